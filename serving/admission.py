"""Admission control and the inference worker: a bounded queue in front of the model.

Requests are admitted up to `inference_queue_limit` at once (extracting, waiting or being
classified); past that they get 503 with `Retry-After` at once, so latency stays bounded
instead of growing with the backlog. Admitted requests extract their documents in the
thread pool, in parallel, and hand them to one inference thread, which packs the documents
of every waiting request into shared batches: the model runs one call at a time with all
cores, and the event loop never waits on it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from classifier.extract import Extracted
from classifier.predict import Classifier
from classifier.results import ClassificationResult
from serving.errors import APIError

log = logging.getLogger("surveilrisk.api")


@dataclass
class _Job:
    items: Sequence[tuple[str, Extracted]]
    done: threading.Event = field(default_factory=threading.Event)
    results: list[ClassificationResult] | None = None
    error: BaseException | None = None


class InferenceQueue:
    """Bounded admission plus a single batching inference thread per process."""

    def __init__(self, classifier: Classifier, limit: int, max_batch_docs: int = 32) -> None:
        self.classifier = classifier
        self.limit = limit
        self.max_batch_docs = max_batch_docs
        self._lock = threading.Lock()
        self._wake = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._admitted = 0
        self._request_s = 1.0  # moving average of one request's time in inference, for Retry-After
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="surveilrisk-inference", daemon=True)
        self._thread.start()

    @property
    def admitted(self) -> int:
        return self._admitted

    def retry_after(self) -> int:
        """Seconds until the current backlog is likely worked off (at least 1)."""
        return max(1, math.ceil(self._request_s * max(self._admitted, 1)))

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a place for one request, or refuse it with 503 + Retry-After when the queue is full."""
        with self._lock:
            if self._admitted >= self.limit:
                wait = self.retry_after()
                raise APIError(
                    503,
                    "overloaded",
                    f"the service is at its limit of {self.limit} classification requests in progress "
                    f"(inference_queue_limit); retry in {wait} s",
                    {"Retry-After": str(wait)},
                )
            self._admitted += 1
        try:
            yield
        finally:
            with self._lock:
                self._admitted -= 1

    def classify(self, items: Sequence[tuple[str, Extracted]]) -> list[ClassificationResult]:
        """Classify on the inference thread (blocking the calling worker thread, never the event loop)."""
        if not items:
            return []
        job = _Job(items)
        with self._wake:
            if self._closed:
                raise RuntimeError("the inference queue is closed")
            self._jobs.append(job)
            self._wake.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.results is not None
        return job.results

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        self._thread.join(timeout=30)

    def _take(self) -> list[_Job]:
        with self._wake:
            while not self._jobs and not self._closed:
                self._wake.wait()
            taken: list[_Job] = []
            docs = 0
            while self._jobs and (not taken or docs + len(self._jobs[0].items) <= self.max_batch_docs):
                job = self._jobs.popleft()
                taken.append(job)
                docs += len(job.items)
            return taken

    def _run(self) -> None:
        while True:
            jobs = self._take()
            if not jobs:
                return
            start = time.perf_counter()
            try:
                results = self.classifier.classify_extracted([it for job in jobs for it in job.items])
                pos = 0
                for job in jobs:
                    job.results = results[pos : pos + len(job.items)]
                    pos += len(job.items)
            except BaseException as exc:  # handed to each waiting request, which reports it
                log.exception("inference failed for %d request(s)", len(jobs))
                for job in jobs:
                    job.error = exc
            elapsed = (time.perf_counter() - start) / len(jobs)
            self._request_s = 0.8 * self._request_s + 0.2 * elapsed
            for job in jobs:
                job.done.set()
