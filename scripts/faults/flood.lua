-- wrk script: a flood of random paths, methods and header values, with some real routes.
math.randomseed(os.time())
local methods = { "GET", "GET", "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "MKCOL", "PURGE", "LOCK" }

local function junk(min, max)
    local n = math.random(min, max)
    local bytes = {}
    for i = 1, n do
        bytes[i] = string.char(math.random(33, 126))
    end
    return table.concat(bytes)
end

request = function()
    local path
    if math.random() < 0.3 then
        path = "/users/" .. math.random(1, 1000000000)
    else
        path = "/" .. math.random(1, 1000000000) .. "/" .. string.format("%x", math.random(1, 1000000000))
    end
    local headers = {
        ["x-request-id"] = junk(1, 300),
        ["traceparent"] = "00-" .. string.format("%016x%016x", math.random(0, 2147483647), math.random(1, 2147483647))
            .. "-" .. string.format("%016x", math.random(1, 2147483647)) .. "-0" .. math.random(0, 3),
        ["tracestate"] = "k" .. math.random(1, 1000000) .. "=" .. junk(1, 20):gsub("[,=]", "x"),
        ["baggage"] = "user" .. math.random(1, 1000000) .. "=" .. math.random(1, 1000000),
        ["host"] = "h" .. math.random(1, 1000000) .. ".example",
    }
    return wrk.format(methods[math.random(#methods)], path, headers)
end
