"""The readers-writer lock that queries and writes of one index share."""

import threading
import time

from kumo.vectorize.rwlock import SharedLock


def test_readers_share_and_a_writer_waits_for_them():
    lock = SharedLock()
    inside = threading.Barrier(3, timeout=5)
    release = threading.Event()
    written = threading.Event()

    def read():
        with lock.shared():
            inside.wait()  # both readers hold it at once
            release.wait(5)

    def write():
        with lock:
            written.set()

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    inside.wait()
    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.1)
    assert not written.is_set()  # held off while the readers read
    release.set()
    writer.join(5)
    assert written.is_set()
    for t in readers:
        t.join(5)


def test_a_waiting_writer_goes_before_new_readers():
    lock = SharedLock()
    order: list[str] = []
    lock.acquire_shared()
    writer = threading.Thread(target=lambda: (lock.acquire(), order.append("writer"), lock.release()))
    writer.start()
    while not lock.waiting_writers:
        time.sleep(0.001)
    reader = threading.Thread(target=lambda: (lock.acquire_shared(), order.append("reader"), lock.release_shared()))
    reader.start()
    time.sleep(0.1)
    assert order == []
    lock.release_shared()
    writer.join(5)
    reader.join(5)
    assert order == ["writer", "reader"]


def test_a_writer_reads_what_it_holds_and_counts_no_reader():
    lock = SharedLock()
    with lock:
        with lock.shared():
            with lock.shared():
                pass
    assert lock._readers == 0
    got = threading.Event()
    t = threading.Thread(target=lambda: (lock.acquire(), got.set(), lock.release()))
    t.start()
    t.join(5)
    assert got.is_set()  # nothing was left held
