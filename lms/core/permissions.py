from lms.core.errors import PermissionDenied


def require(condition: bool, action: str = "") -> None:
    """Raise ``PermissionDenied`` unless ``condition`` holds."""
    if not condition:
        raise PermissionDenied(action=action) if action else PermissionDenied()
