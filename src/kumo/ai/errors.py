"""Workers AI error codes (Cloudflare's, from its errors page)."""

from __future__ import annotations

from kumo.errors import InvalidRequest, KumoError

NO_SUCH_MODEL = 5007
BAD_INPUT = 5006
INVALID_BASE64 = 5004
MISSING_BODY = 3003
OUT_OF_CAPACITY = 3040


class OutOfCapacity(KumoError):
    status = 429
    code = OUT_OF_CAPACITY


class ModelBusy(OutOfCapacity):
    """The model is working for someone else and the caller asked not to wait (`rejectIfBusy`)."""

    def __init__(self) -> None:
        super().__init__("Capacity temporarily exceeded, please try again.")


def bad_input(message: str) -> InvalidRequest:
    return InvalidRequest(f"AiError: Bad input: {message}", code=BAD_INPUT)


def no_such_model(name: str) -> InvalidRequest:
    return InvalidRequest(f"No such model {name} or task", code=NO_SUCH_MODEL)
