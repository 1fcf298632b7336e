"""What the boto3 test scripts share: waiting for the server to reach a state, and expecting
a modeled exception."""

import sys
import time


def wait(what, check, timeout=60):
    """The first truthy value `check` returns, polled every 100 ms; exit after `timeout`."""
    deadline = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.time() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.1)


def expect_error(exception, call, **kwargs):
    """`call(**kwargs)` must raise `exception` (botocore's modeled class); it is returned."""
    try:
        call(**kwargs)
    except exception as error:
        return error
    sys.exit(f"{call.__name__}({kwargs}) did not raise {exception.__name__}")
