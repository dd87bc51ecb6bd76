"""``N_`` marks an English message id for extraction without translating it yet (it is translated
where it is shown, e.g. by the error handler)."""


def N_(message: str) -> str:
    return message
