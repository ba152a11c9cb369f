"""The update claim: taken once, given back after a database failure, taken over after the lease."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bot.models import ProcessedUpdate
from bot.services.updates import Claim, update_claim, update_done, update_release
from testkit.concurrency import in_threads

pytestmark = pytest.mark.django_db


def test_first_caller_takes_a_redelivery_after_done_is_skipped():
    assert update_claim(update_id=1) is Claim.TAKEN
    assert update_claim(update_id=1) is Claim.BUSY  # still being handled
    update_done(update_id=1)
    assert update_claim(update_id=1) is Claim.DONE
    assert update_claim(update_id=1, retake=True) is Claim.DONE  # done is final


def test_a_given_back_update_is_taken_again():
    assert update_claim(update_id=2) is Claim.TAKEN
    assert update_claim(update_id=2, retake=True) is Claim.TAKEN  # the process that gave it back
    assert update_release(update_id=2)
    assert update_claim(update_id=2) is Claim.TAKEN  # a redelivery at any worker
    update_done(update_id=2)
    assert not update_release(update_id=2)  # a finished update is never released


def test_done_survives_a_late_release():
    assert update_claim(update_id=6) is Claim.TAKEN
    assert update_release(update_id=6)  # a release that ran after the update was taken again
    update_done(update_id=6)
    assert update_claim(update_id=6) is Claim.DONE


def test_an_abandoned_claim_is_taken_over_after_the_lease(settings):
    settings.UPDATE_CLAIM_LEASE_SECONDS = 60
    assert update_claim(update_id=3) is Claim.TAKEN
    ProcessedUpdate.objects.filter(update_id=3).update(received_at=timezone.now() - timedelta(seconds=61))
    assert update_claim(update_id=3) is Claim.TAKEN
    assert update_claim(update_id=3) is Claim.BUSY  # the lease starts again for the new taker


def test_rows_from_before_the_done_flag_count_as_handled():
    ProcessedUpdate.objects.create(update_id=4)  # the model default, as the migration gives old rows
    assert update_claim(update_id=4) is Claim.DONE


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_only_one_of_many_concurrent_takers_wins_an_abandoned_claim(settings):
    settings.UPDATE_CLAIM_LEASE_SECONDS = 60
    ProcessedUpdate.objects.create(update_id=5, done=False)
    ProcessedUpdate.objects.filter(update_id=5).update(received_at=timezone.now() - timedelta(seconds=61))
    results = in_threads(8, lambda: update_claim(update_id=5))
    assert sorted(r.value for r in results) == ["busy"] * 7 + ["taken"]
