"""Two connections of one worker on the ledger never wait for each other crosswise (PostgreSQL).

A worker records outcomes on one connection (row by row, in one transaction) while its lease
renewal runs on another. bench/soak.py caught them deadlocked: the flush held row 110 and wanted
105, the renewal held 105 (one UPDATE … IN, locking in scan order) and wanted 110; PostgreSQL
aborted the renewal after a second's wait. Now the renewal skips rows being recorded, and the
flush locks in id order.
"""

import threading

import pytest
from django.db import connection, transaction

from rundbrief.delivery.models import Delivery
from rundbrief.delivery.store import DjangoRecipientStore
from tests.support.campaigns import make_audience, scheduled_campaign

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'"),
]


def test_lease_renewal_passes_rows_the_workers_own_flush_holds(finance):
    make_audience(finance, 20)
    scheduled_campaign([finance])
    store = DjangoRecipientStore("w", 30)
    ids = sorted(c.delivery_id for c in store.claim(20))
    middle = ids[10]
    holding, release, renewed = threading.Event(), threading.Event(), threading.Event()

    def flush_in_progress():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("UPDATE delivery_delivery SET last_reply = 'x' WHERE id = %s", [middle])
                holding.set()
                release.wait(30)
        finally:
            connection.close()

    def renewal():
        try:
            holding.wait(30)
            store.renew_leases(ids)
            renewed.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=flush_in_progress), threading.Thread(target=renewal)]
    for thread in threads:
        thread.start()
    # The renewal finishes while the flush still holds its row: it does not queue behind it.
    finished_while_held = renewed.wait(20)
    release.set()
    for thread in threads:
        thread.join()
    assert finished_while_held, "the lease renewal waited for a row the flush holds"
    leases = dict(Delivery.objects.filter(pk__in=ids).values_list("pk", "lease_until"))
    others = {leases[i] for i in ids if i != middle}
    assert len(others) == 1 and leases[middle] < others.pop()  # the held row was passed over
