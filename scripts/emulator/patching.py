"""How the emulator's modules extend moto's classes in place (test support only).

moto is extended the way its own services are written: methods are added to (or wrapped
around) moto's backend and response classes, so every account's and region's backend gets
them, and moto's reset (``POST /moto-api/reset``) still clears all state.

* ``add_methods`` copies a helper class's methods onto a moto class (new operations).
* ``wrap_method`` puts a check in front of (or around) an existing moto method; the
  wrapper gets the original as its first argument.  Wrapping is idempotent: installing
  the same wrapper twice leaves one.
* ``arguments`` binds a call's arguments to the original method's parameter names, so a
  wrapper can read e.g. ``permission_model`` however moto passed it.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

WRAPPERS_ATTR = "__eksmgr_wrappers__"


def add_methods(target: type, extension: type) -> None:
    """Copy the methods and properties ``extension`` defines onto ``target``."""
    for name, member in vars(extension).items():
        if not name.startswith("__"):
            setattr(target, name, member)


def wrap_method(
    target: type, name: str, wrapper: Callable[..., Any]
) -> None:
    """Replace ``target.name`` by a method calling ``wrapper(original, self, ...)``."""
    current = getattr(target, name)
    applied: frozenset[Any] = getattr(current, WRAPPERS_ATTR, frozenset())
    if wrapper in applied:
        return

    @functools.wraps(current)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return wrapper(current, self, *args, **kwargs)

    setattr(method, WRAPPERS_ATTR, applied | {wrapper})
    setattr(target, name, method)


def arguments(
    original: Callable[..., Any], self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The call's arguments by parameter name (defaults applied), ``self`` left out."""
    bound = inspect.signature(original).bind(self, *args, **kwargs)
    bound.apply_defaults()
    values = dict(bound.arguments)
    values.pop("self", None)
    return values
