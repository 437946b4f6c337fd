"""Load on a running API (clients predicting in a loop) and new champion versions promoted under it."""

from __future__ import annotations

import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import mlflow

from data_science.model import CancellationModel
from data_science.pyfunc import HotelCancellationPyfunc
from data_science.tracking import BUNDLE_ARTIFACT, CHAMPION, MODEL_NAME, resolve


def promote_a_new_version(
    tmp_path: Path, threshold: float, damage: Callable[[Path], None] | None = None, source: str | None = None
) -> str:
    """Register a second version (the champion's bundle with another threshold) and make it
    the champion, as the pipeline would after a better training run; ``damage`` may spoil the
    saved bundle's folder first (the registry then holds a version that must not be served).
    ``source``: the model URI whose bundle is copied (default: the champion)."""
    work = Path(tempfile.mkdtemp(prefix="promote-", dir=tmp_path))
    bundle = CancellationModel.load(resolve(source, dst=work / "current").local_dir)
    bundle.threshold = threshold
    bundle.save(work / "bundle")
    if damage is not None:
        damage(work / "bundle")
    mlflow.set_tracking_uri(mlflow.get_tracking_uri())
    experiment = mlflow.get_experiment_by_name(MODEL_NAME)
    assert experiment is not None, f"no {MODEL_NAME} experiment: train first"
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=HotelCancellationPyfunc(),
            artifacts={BUNDLE_ARTIFACT: str(work / "bundle")},
            registered_model_name=MODEL_NAME,
            pip_requirements=["mlflow"],
        )
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, CHAMPION, version)
    return version


class Traffic:
    """Clients predicting one booking in a loop until the ``with`` block ends: each request on a
    new connection (the kernel hands connections to either worker), or with ``keep_alive`` on
    one connection per client (several times the load). ``answers`` holds (wall-clock time,
    status, model version): status 0 is a transport error, with its repr as version. Wall-clock,
    so that times the registry records (epoch milliseconds) compare."""

    def __init__(
        self,
        url: str,
        booking: dict[str, Any],
        clients: int = 4,
        pause: float = 0.0,
        headers: dict[str, str] | None = None,
        *,
        keep_alive: bool = False,
    ) -> None:
        self.url, self.booking, self.pause = url, booking, pause
        self.headers, self.keep_alive = headers or {}, keep_alive
        self.answers: list[tuple[float, int, str | None]] = []
        self.request_ids: list[str] = []  # of every prediction answered (200)
        self._stop = threading.Event()
        self._clients = [threading.Thread(target=self._keep_predicting) for _ in range(clients)]

    def _keep_predicting(self) -> None:
        # httpx's module functions open a connection per call; a Client keeps one alive.
        with httpx.Client(timeout=30) as client:
            post = client.post if self.keep_alive else httpx.post
            self._predict(post)

    def _predict(self, post: Callable[..., httpx.Response]) -> None:
        while not self._stop.is_set():
            try:
                response = post(f"{self.url}/predict", json=self.booking, headers=self.headers, timeout=30)
                version = None
                if response.status_code == 200:
                    answer = response.json()
                    version = answer["model_version"]
                    self.request_ids.append(answer["request_id"])
                self.answers.append((time.time(), response.status_code, version))
            except httpx.TransportError as exc:
                self.answers.append((time.time(), 0, repr(exc)))
            self._stop.wait(self.pause)  # light traffic leaves the CPU to what runs beside it

    def __enter__(self) -> Traffic:
        for client in self._clients:
            client.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for client in self._clients:
            client.join()

    def statuses(self) -> dict[int, int]:
        """How many answers had each status."""
        return dict(Counter(status for _, status, _ in self.answers))

    def switched_to(self, version: str, since: float, last: int = 200) -> bool:
        """Were the last ``last`` answers, all given after ``since``, from ``version`` only?"""
        recent = [answer for at, _, answer in self.answers[-last:] if at > since]
        return len(recent) >= last and set(recent) == {version}

    def switch_seconds(self, old_version: str, since: float) -> float:
        """Seconds from ``since`` to the last answer still given by ``old_version``."""
        return max(0.0, max(at for at, _, answer in self.answers if answer == old_version) - since)
