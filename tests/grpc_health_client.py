"""The gRPC project's own health client (grpcio-health-checking) against a server of ours.

Run by tests/health.rs: `python3 tests/grpc_health_client.py 127.0.0.1:PORT`. Prints one line
per answer, in a fixed order, for the test to compare; every wait is bounded.
"""

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

NAMES = {v: k for k, v in health_pb2.HealthCheckResponse.ServingStatus.items()}


def say(line):
    print(line, flush=True)


def main(addr):
    channel = grpc.insecure_channel(addr)
    grpc.channel_ready_future(channel).result(timeout=20)
    stub = health_pb2_grpc.HealthStub(channel)

    for name in ["", "inventory.v1.Inventory", "nope"]:
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            say(f"check {name!r} {NAMES[answer.status]}")
        except grpc.RpcError as err:
            say(f"check {name!r} {err.code().name}")

    watches = {}
    for name in ["inventory.v1.Inventory", "later.v1.Later"]:
        call = stub.Watch(health_pb2.HealthCheckRequest(service=name), timeout=60)
        watches[name] = call
        say(f"watch {name!r} {NAMES[next(call).status]}")

    # The test registers `later.v1.Later` now.
    say(f"watch 'later.v1.Later' {NAMES[next(watches['later.v1.Later']).status]}")
    # The test starts the shutdown now: NOT_SERVING on both, then both streams end.
    for name, call in watches.items():
        say(f"watch {name!r} {NAMES[next(call).status]}")
    for name, call in watches.items():
        try:
            extra = next(call)
            say(f"watch {name!r} unexpected {NAMES[extra.status]}")
        except StopIteration:
            say(f"watch {name!r} ended {call.code().name}")
    channel.close()


if __name__ == "__main__":
    main(sys.argv[1])
