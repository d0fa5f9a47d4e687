"""Reading provider answers by shape: a malformed answer becomes MalformedResponse at the adapter boundary.

Adapters read decoded JSON by shape (`body["historyId"]`, `result["id"]`, pydantic records built from
it). A 200 whose body is not JSON, lacks a key or has a value of the wrong type would otherwise escape
as a bare KeyError/TypeError/ValueError that the engine cannot name. Each adapter guards its public
operations once (`read_by_shape` on a method, `read_pages` around a lazy pull) instead of wrapping
every lookup. The error says what was wrong and which endpoint answered it last, never the body.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import httpx
from pydantic import ValidationError

from threadline.adapters.errors import MalformedResponse, ProviderError

T = TypeVar("T")
P = ParamSpec("P")

#: What reading a malformed answer raises (pydantic's ValidationError and JSONDecodeError are ValueErrors).
READ_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError)
Endpoint = Callable[[], str]


def what_was_wrong(exc: BaseException) -> str:
    """A short description of the fault in the answer, with no value from it (keys and types only)."""
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['type']}" for e in exc.errors()[:3]]
        return "record fields invalid (" + "; ".join(parts) + ")"
    if isinstance(exc, json.JSONDecodeError):
        return "body is not JSON"
    if isinstance(exc, KeyError):
        key = str(exc.args[0]) if exc.args else "?"
        return f"missing key {key[:60]!r}"
    if isinstance(exc, IndexError):
        return "a list shorter than expected"
    # TypeError/ValueError texts may quote the offending value (customer data): keep only the class.
    return f"a value of the wrong type or form ({type(exc).__name__})"


def malformed(provider: str, endpoint: str, exc: BaseException) -> MalformedResponse:
    """The MalformedResponse for `exc`, raised while reading `endpoint`'s answer."""
    where = endpoint or "an answer"
    return MalformedResponse(f"{provider} {where}: malformed answer: {what_was_wrong(exc)}",
                             provider=provider, endpoint=endpoint)


@contextmanager
def reading(provider: str, endpoint: Endpoint) -> Iterator[None]:
    """Turn a shape error raised inside the block into MalformedResponse; ProviderErrors pass unchanged."""
    try:
        yield
    except ProviderError:
        raise
    except READ_ERRORS as exc:
        raise malformed(provider, endpoint(), exc) from exc


def read_pages(pages: Iterable[T], provider: str, endpoint: Endpoint) -> Iterator[T]:
    """Yield `pages`, guarding each step of the provider's pull (not the consumer's work between pages)."""
    iterator = iter(pages)
    try:
        while True:
            with reading(provider, endpoint):
                try:
                    page = next(iterator)
                except StopIteration:
                    return
            yield page
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:      # a consumer that stops early stops the pull's own threads too (backfill)
            close()


def read_by_shape(provider: str, endpoint: Callable[[Any], str]) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Method decorator: guard the call with `reading`, and a returned iterator with `read_pages`.

    `endpoint(self)` names the endpoint last answered (e.g. `JsonApi.last_endpoint`).
    """
    def decorate(method: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(method)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
            where = functools.partial(endpoint, args[0])
            with reading(provider, where):
                result = method(*args, **kwargs)
            if isinstance(result, Iterator):
                return read_pages(result, provider, where)  # type: ignore[return-value]
            return result
        return guarded
    return decorate


def json_object(value: Any, provider: str, endpoint: str) -> dict[str, Any]:
    """`value` if it is a JSON object, else MalformedResponse (a list or a string where an object belongs)."""
    if not isinstance(value, dict):
        raise MalformedResponse(f"{provider} {endpoint}: malformed answer: expected a JSON object, got "
                                f"{type(value).__name__}", provider=provider, endpoint=endpoint)
    return value


def _endpoint_of(response: httpx.Response) -> str:
    return f"{response.request.method} {response.request.url.path}"


def decode_json(response: httpx.Response, provider: str) -> Any:
    """The JSON value a 2xx `response` carries (None for an empty body), else MalformedResponse."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:                   # JSONDecodeError, UnicodeDecodeError: a cut or garbled body
        raise malformed(provider, _endpoint_of(response), exc) from exc


def decode_object(response: httpx.Response, provider: str) -> dict[str, Any]:
    """The JSON object a 2xx `response` carries ({} for an empty body), else MalformedResponse."""
    value = decode_json(response, provider)
    return {} if value is None else json_object(value, provider, _endpoint_of(response))


def require(body: dict[str, Any], provider: str, endpoint: str, **fields: type | tuple[type, ...]) -> dict[str, Any]:
    """`body` if each named field is present with its type, else MalformedResponse naming the first that is not.

    For fields an answer always carries where `{}` would otherwise read as "nothing there" (a search
    without `results` must not look like "not logged yet": that would create the record again).
    """
    for name, kind in fields.items():
        if name not in body:
            raise MalformedResponse(f"{provider} {endpoint}: malformed answer: missing key {name!r}",
                                    provider=provider, endpoint=endpoint)
        if not isinstance(body[name], kind):
            raise MalformedResponse(f"{provider} {endpoint}: malformed answer: {name!r} is "
                                    f"{type(body[name]).__name__}", provider=provider, endpoint=endpoint)
    return body
