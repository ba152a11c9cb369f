"""Public views of journeys: the stream-link click tracker."""

from django.http import Http404, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .services import stream_click_record


@require_GET
@never_cache
def stream_click(request, ref: str):
    """Record a member's click on a stream link and forward them to the stream page with ``?ref=``."""
    target = stream_click_record(ref=ref)
    if target is None:
        raise Http404("Unknown link")
    return HttpResponseRedirect(target)
