"""A storm of cancelled requests: COUNT connections, each sends a request for a slow endpoint
and closes the socket before the answer, CONCURRENCY at a time. Bounded: every connection
closes after DELAY seconds."""
import asyncio
import sys

HOST, PORT, PATH = sys.argv[1], int(sys.argv[2]), sys.argv[3]
COUNT = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
CONCURRENCY = int(sys.argv[5]) if len(sys.argv) > 5 else 200
DELAY = 0.01


async def one(limit: asyncio.Semaphore) -> None:
    async with limit:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, PORT), 5)
        writer.write(f"GET {PATH} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        await writer.drain()
        await asyncio.sleep(DELAY)
        writer.close()


async def main() -> None:
    limit = asyncio.Semaphore(CONCURRENCY)
    results = await asyncio.gather(*(one(limit) for _ in range(COUNT)), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    print(f"{COUNT - len(failed)} requests sent and abandoned, {len(failed)} connections failed")


asyncio.run(main())
