"""Batch jobs: every scene of a STAC catalog super-resolved, in parallel on dask.distributed, resumable.

One item is one unit of work (:func:`process_scene`): open its stack, :func:`satsr.upscale`, write COGs and then
its STAC product item, in that order and each atomically, into ``OUTDIR/<id>_sr_x<scale>/``. The item JSON is
the commit mark: a product counts as done only when its item exists and every file matches the size and
SHA2-256 checksum recorded there (:func:`satsr.catalog.verify_product`). A job killed at any moment therefore
leaves complete products, or files that ``--resume`` rewrites; never a product that looks done but is not.

Items run on a ``dask.distributed`` cluster: a ``LocalCluster`` of worker processes by default, or any running
scheduler by address (dask-jobqueue, dask-kubernetes, dask-cuda and others give one). Each worker keeps one
model instance (the pipeline caches it per process) and runs one item at a time with a share of the CPU
threads. With ``device="cuda"`` every item asks for the worker resource ``GPU=1``; start GPU workers with
``--resources GPU=1`` (a ``LocalCluster`` here gets it when CUDA is present). On a machine with several GPUs the
local cluster starts one worker process per GPU, and worker ``i`` runs on ``cuda:i`` (an external cluster such
as dask-cuda's gives each worker its own ``CUDA_VISIBLE_DEVICES`` instead). ``workers=0`` runs the items one
after the other in this process, without dask.distributed: the reference the tests compare against.

A failing item (unreadable file, missing asset, grids that do not match...) is retried ``retries`` times, then
recorded with its error in ``OUTDIR/run-report.json``; the other items go on. The report and the output
catalog (``OUTDIR/catalog.json``, linking every complete product) are rewritten atomically at the end.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask
from dask.callbacks import Callback

from satsr._atomic import TEMP_MARK, atomic_output
from satsr._defaults import DEFAULT_MODEL
from satsr._folders import make_parent
from satsr._threads import default_threads, usable_cores
from satsr._version import package_version
from satsr.catalog import SR_SUFFIX, CatalogError, Scene, product_item, read_catalog, verify_product
from satsr.errors import InputError, OutputError, SatsrError
from satsr.plan import JobPlan, format_duration, plan_upscale
from satsr.progress import bar

if TYPE_CHECKING:  # the engine imports torch, which this module loads only where it runs a model
    from satsr.engine import Precision

__all__ = ["JobConfig", "ItemResult", "BatchReport", "BatchPlan", "plan_batch", "process_scene", "run_batch",
           "TILES_TOPIC"]

#: dask.distributed event topic on which workers report tile progress to the client.
TILES_TOPIC = "satsr-batch-tiles"


@dataclass(frozen=True)
class JobConfig:
    """What to run on every item (picklable: it travels to the workers)."""

    model: str = DEFAULT_MODEL
    scale: int | None = None
    pretrained: str | bool | None = None  # as satsr.models.create takes it (False: random weights on purpose)
    model_options: Mapping[str, Any] = field(default_factory=dict)
    bands: tuple[int, ...] | None = None
    value_range: tuple[float, float] | None = None
    tile: int = 256
    batch_size: int | None = None
    device: str = "auto"
    compress: str = "deflate"
    level: int | None = None
    threads: int | None = None  # CPU threads per item (torch and the dask threads); default all
    precision: Precision = "auto"  # autocast dtype, as satsr.upscale takes it (auto, fp32, bf16, fp16)
    self_ensemble: bool = False  # the x8 flips-and-transposes average, as satsr.upscale takes it
    artifact: str | None = None  # the model file products point to (mlm:model asset); run_batch writes it
    parameters: int | None = None  # the model's parameter count (mlm:total_parameters); run_batch counts it


@dataclass
class ItemResult:
    """How one item went."""

    id: str
    status: str  # "done", "skipped" (already complete, --resume) or "failed"
    product: str | None = None  # the product item JSON
    files: list[str] = field(default_factory=list)
    error: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    worker: str | None = None


@dataclass
class BatchReport:
    """The whole job: one result per item, and where the outputs are."""

    outdir: str
    catalog: str
    results: list[ItemResult]
    started: str
    seconds: float
    workers: int | str

    @property
    def failed(self) -> list[ItemResult]:
        """The items that failed."""
        return [r for r in self.results if r.status == "failed"]

    def counts(self) -> dict[str, int]:
        """Items per status."""
        out = {"done": 0, "skipped": 0, "failed": 0}
        for r in self.results:
            out[r.status] = out.get(r.status, 0) + 1
        return out


def output_id(scene_id: str, scale: int) -> str:
    """The product's item id (and folder name): the source id plus ``_sr_x<scale>``."""
    return scene_id + SR_SUFFIX.format(scale=scale)


def _product_paths(outdir: Path, scene_id: str, scale: int) -> tuple[Path, Path]:
    oid = output_id(scene_id, scale)
    return outdir / oid, outdir / oid / f"{oid}.json"


def _clean_temps(folder: Path) -> None:
    """Remove what a killed run left under temporary names.

    These are our writers' hidden ``.*.satsr-*`` files: temporary outputs and the COG writer's uncompressed stages.
    """
    if folder.is_dir():
        for p in sorted(folder.rglob(f"*{TEMP_MARK}*"), reverse=True):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def _write_json_atomic(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, default=str)
    try:
        with atomic_output(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as err:
        raise OutputError(f"{path}: cannot write ({err})") from err


class _TileProgress(Callback):
    """Counts the finished tile blocks (``upscale-*`` tasks) of one item's graph and reports them."""

    def __init__(self, report: Callable[[int, int], None] | None) -> None:
        super().__init__()
        self.report, self.total, self.done = report, 0, 0

    @staticmethod
    def _is_block(key: Any) -> bool:
        name = key[0] if isinstance(key, tuple) else key
        return isinstance(name, str) and name.startswith("upscale-")

    def _start_state(self, dsk: Any, state: Any) -> None:
        self.total = sum(1 for k in dsk if self._is_block(k))
        if self.report and self.total:
            self.report(0, self.total)

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if self._is_block(key):
            self.done += 1
            if self.report:
                self.report(self.done, self.total)


def _worker_name() -> str | None:
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return None


def _worker_device(device: str, worker: str | None, n_gpus: int) -> str:
    """The GPU of a local cluster's worker: ``cuda:<name mod n_gpus>`` when several GPUs share the machine.

    One process per GPU; a device with an index, one GPU, or a worker not named by a number stays as it is.
    """
    if device != "cuda" or n_gpus < 2 or worker is None or not worker.isdigit():
        return device
    return f"cuda:{int(worker) % n_gpus}"


def _distributed_reporter(scene_id: str) -> Callable[[int, int], None] | None:
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done in (0, total) or now - last[0] > 0.2:  # throttled: events go over the network
            last[0] = now
            worker.log_event(TILES_TOPIC, {"id": scene_id, "done": done, "total": total})

    return report


def write_model_artifact(cfg: JobConfig, folder: Path, scale: int) -> tuple[Path, int]:
    """The model as run, saved once per job for the products' ``mlm:model`` asset: ``(path, parameters)``.

    A model with weights is written by :func:`satsr.models.save` (safetensors with its name, scale and
    options; ``satsr.models.create(name, pretrained=path)`` loads it back). A model without parameters (an
    interpolator) is described by a small JSON file instead.
    """
    from satsr import models

    folder.mkdir(exist_ok=True)
    model = models.create(cfg.model, scale=scale, pretrained=cfg.pretrained, **dict(cfg.model_options))
    n_params = sum(p.numel() for p in model.parameters())
    stem = f"{cfg.model}_x{scale}"
    if model.state_dict():
        path = folder / f"{stem}.safetensors"
        # safetensors does not write byte-identical files twice (its header order varies), and products
        # record the artifact's checksum: keep an existing file that holds the same weights.
        if not _same_weights(path, model):
            models.save(model, path)
        return path, n_params
    path = folder / f"{stem}.json"
    _write_json_atomic(path, {"satsr": package_version(), "model": cfg.model, "scale": scale,
                              "options": dict(cfg.model_options), "parameters": 0,
                              "load": f"satsr.models.create({cfg.model!r}, scale={scale})"})
    return path, 0


def _same_weights(path: Path, model: Any) -> bool:
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        return False
    try:
        saved = load_file(os.fspath(path))
    except (SafetensorError, OSError):
        return False
    mine = model.state_dict()
    return saved.keys() == mine.keys() and all(torch.equal(saved[k], mine[k].detach().cpu()) for k in mine)


def _model_info(cfg: JobConfig, sr: Any, device: str) -> dict[str, Any]:
    import torch

    from satsr import models

    spec = models.get_spec(cfg.model)
    # create() loaded the shipped weights when none were named and the model has some (it refuses the options
    # they were not trained with), and no weights when pretrained=False.
    shipped = cfg.pretrained in (None, True) and any(w.file for w in spec.weights)
    return {
        "name": cfg.model, "scale": int(sr.attrs.get("satsr_scale", spec.scale)), "frames_in": spec.frames_in,
        "architecture": spec.description or cfg.model, "framework_version": torch.__version__,
        "pretrained": cfg.pretrained if isinstance(cfg.pretrained, str) else ("satsr shipped weights" if shipped
                                                                               else None),
        "device": device, "options": dict(cfg.model_options), "artifact": cfg.artifact,
        "parameters": cfg.parameters, "precision": sr.attrs.get("satsr_precision"),
        "self_ensemble": int(sr.attrs.get("satsr_self_ensemble", 0)),
    }


def process_scene(
    scene: Scene,
    outdir: str | os.PathLike[str],
    cfg: JobConfig,
    retries: int = 0,
    *,
    report: Callable[[int, int], None] | None = None,
) -> ItemResult:
    """Super-resolve one scene into ``outdir``: COGs, then its STAC product item (the commit mark).

    Never raises for a bad item: the error (after ``retries`` more attempts) is in the returned result.
    """
    import torch

    from satsr.engine import resolve_device
    from satsr.io.write import to_cog
    from satsr.pipeline import upscale

    start = time.perf_counter()
    out = Path(outdir)
    report = report or _distributed_reporter(scene.id)
    threads = cfg.threads or default_threads()[0]
    result = ItemResult(scene.id, "failed", worker=_worker_name())
    for attempt in range(1, retries + 2):
        result.attempts = attempt
        try:
            torch.set_num_threads(threads)
            stack = scene.open()
            device = _worker_device(str(resolve_device(cfg.device)), _worker_name(), torch.cuda.device_count())
            sr = upscale(stack, cfg.model, scale=cfg.scale, tile=cfg.tile, batch_size=cfg.batch_size, device=device,
                         value_range=cfg.value_range, model_options=dict(cfg.model_options) or None,
                         pretrained=cfg.pretrained, bands=list(cfg.bands) if cfg.bands else None,
                         precision=cfg.precision, self_ensemble=cfg.self_ensemble)
            scale = int(sr.attrs["satsr_scale"])
            folder, item_path = _product_paths(out, scene.id, scale)
            folder.mkdir(exist_ok=True)
            item_path.unlink(missing_ok=True)  # an older product is no longer complete once we start replacing it
            _clean_temps(folder)
            target = folder / f"{output_id(scene.id, scale)}.tif" if stack.sizes["time"] == 1 else folder / "frames"
            with dask.config.set(scheduler="threads", num_workers=threads), _TileProgress(report):
                files = to_cog(sr, target, compress=cfg.compress, level=cfg.level)
            item = product_item(scene, files, sr, model=_model_info(cfg, sr, device), item_path=item_path)
            d = item.to_dict(include_self_link=False, transform_hrefs=False)
            d["links"] = [ln for ln in d["links"] if ln["rel"] not in ("root", "parent")] + [
                {"rel": "root", "href": "../catalog.json", "type": "application/json"},
                {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
            ]
            _write_json_atomic(item_path, d)  # last: the product now counts as done
            result.status, result.product, result.error = "done", str(item_path), None
            result.files = [str(f) for f in files]
            break
        except Exception as err:  # a bad item must not stop the job: record it, retry, report
            msg = str(err) if isinstance(err, SatsrError) else f"{type(err).__name__}: {err}"
            if not isinstance(err, SatsrError):
                msg += " | " + traceback.format_exc(limit=-3).strip().replace("\n", " | ")
            result.error = msg
    result.seconds = time.perf_counter() - start
    return result


def _write_catalog(outdir: Path, catalog_id: str, products: Sequence[str], source: str) -> Path:
    links = [{"rel": "root", "href": "./catalog.json", "type": "application/json"}]
    links += [{"rel": "item", "href": "./" + Path(p).relative_to(outdir).as_posix(), "type": "application/json"}
              for p in products]
    cat = {
        "type": "Catalog", "stac_version": "1.1.0", "id": catalog_id,
        "description": f"Super-resolved products of {source}, made by satsr {package_version()}",
        "links": links,
    }
    path = outdir / "catalog.json"
    _write_json_atomic(path, cat)
    return path


def _default_workers(n_items: int) -> int:
    # Two single-threaded workers beat one with two threads on 2 cores (benchmarks/bench_batch.py: 24.3 s
    # against 29.0 s for 8 items); bigger machines get workers of 4 threads, so that model copies stay few.
    return max(1, min(n_items, max(2, usable_cores() // 4)))


@dataclass(frozen=True)
class BatchPlan:
    """What a ``run_batch`` job will compute and cost, scene by scene (see :func:`plan_batch`)."""

    scenes: tuple[tuple[str, JobPlan], ...]  # (scene id, its plan), in catalog order
    skipped: tuple[str, ...]  # scenes whose products are complete already (resume)
    unreadable: tuple[tuple[str, str], ...]  # (scene id, why): these would fail in the run
    workers: int  # what run_batch would start on this machine

    def seconds(self, workers: int | None = None) -> float:
        """Estimated wall time: whole scenes spread over ``workers`` (the longest scene is a floor)."""
        n = self.workers if workers is None else workers
        if n < 1:
            raise InputError(f"workers must be >= 1, got {n}")
        times = [p.seconds(1) for _, p in self.scenes]
        return max(sum(times) / n, max(times, default=0.0))

    def table(self, workers: tuple[int, ...] = (1, 2, 4)) -> str:
        """The plan as a short table for a terminal: one row per scene, then the totals."""
        def mb(n: int) -> str:
            return f"{n / 2**20:,.1f} MB"

        lines = [f"{'scene':<28} {'output (t, b, y, x)':<24} {'forwards':>9} {'blocks':>7} {'1 worker':>10}"]
        for sid, p in self.scenes:
            shape = " x ".join(map(str, p.shape_out))
            took = format_duration(p.seconds(1))
            lines.append(f"{sid[:28]:<28} {shape:<24} {p.forwards:>9,} {p.blocks:>7,} {took:>10}")
        lines += [f"{sid[:28]:<28} skipped: complete already" for sid in self.skipped]
        lines += [f"{sid[:28]:<28} error: {why}" for sid, why in self.unreadable]
        first = self.scenes[0][1] if self.scenes else None
        if first is not None:
            lines.append(f"model {first.model} ({first.precision} on {first.device}), "
                         f"{first.seconds_per_forward:.3f} s per forward (calibrated on the first scene)")
        lines.append(f"in {mb(sum(p.bytes_in for _, p in self.scenes))}, out "
                     f"{mb(sum(p.bytes_out for _, p in self.scenes))}, about "
                     f"{mb(max((p.memory_per_worker for _, p in self.scenes), default=0))} per worker")
        for w in sorted({*workers, self.workers}):
            mark = " (run_batch's default here)" if w == self.workers else ""
            lines.append(f"time, {w} worker{'s' if w > 1 else ''}: {format_duration(self.seconds(w))}{mark}")
        return "\n".join(lines)


def plan_batch(
    catalog: str | os.PathLike[str],
    outdir: str | os.PathLike[str] | None = None,
    cfg: JobConfig | None = None,
    *,
    resume: bool = False,
    assets: Sequence[str] | None = None,
    media_type: str | None = None,
    calibration: int = 2,
) -> BatchPlan:
    """Plan :func:`run_batch` without running it: each scene's blocks, forwards, bytes and expected time.

    The model is timed once, on real pixels of the first scene (:func:`satsr.plan.plan_upscale`); scenes with
    the same window size reuse that calibration. Nothing is written.

    Parameters
    ----------
    catalog, outdir, cfg, resume, assets, media_type
        As :func:`run_batch` (``outdir`` only matters with ``resume``: complete products are skipped).
    calibration : int, default 2
        Windows timed after one warm-up forward.

    Returns
    -------
    BatchPlan

    Raises
    ------
    CatalogError
        The catalog cannot be read.
    UnknownModelError, ModelError
        As :func:`run_batch`.
    """
    cfg = cfg or JobConfig()
    scenes = read_catalog(catalog, assets=assets, media_type=media_type)
    from satsr import models

    scale = int(cfg.scale or models.get_spec(cfg.model).scale)
    planned: list[tuple[str, JobPlan]] = []
    skipped: list[str] = []
    unreadable: list[tuple[str, str]] = []
    timed: dict[tuple[int, int], float] = {}  # window size -> seconds per forward
    for s in scenes:
        if resume and outdir is not None and verify_product(_product_paths(Path(outdir), s.id, scale)[1])[0]:
            skipped.append(s.id)
            continue
        try:
            stack = s.open()
        except SatsrError as err:  # the run would record this item as failed and go on: so does the plan
            unreadable.append((s.id, str(err)))
            continue
        options: dict[str, Any] = {
            "scale": cfg.scale, "tile": cfg.tile, "batch_size": cfg.batch_size, "device": cfg.device,
            "value_range": cfg.value_range, "model_options": dict(cfg.model_options) or None,
            "pretrained": cfg.pretrained, "bands": list(cfg.bands) if cfg.bands else None,
            "precision": cfg.precision, "self_ensemble": cfg.self_ensemble}
        # The first scene is timed; later ones reuse a calibration of the same window size (the plan's window is
        # known only once planned, so a placeholder goes in first).
        job = plan_upscale(stack, cfg.model, calibration=calibration, seconds_per_forward=0.0 if timed else None,
                           **options)
        if timed:
            per = timed.get(job.window)
            job = replace(job, seconds_per_forward=per) if per is not None else plan_upscale(
                stack, cfg.model, calibration=calibration, **options)
        timed.setdefault(job.window, job.seconds_per_forward)
        planned.append((s.id, job))
    return BatchPlan(tuple(planned), tuple(skipped), tuple(unreadable), _default_workers(max(1, len(planned))))


def run_batch(
    catalog: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    cfg: JobConfig | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    retries: int = 1,
    assets: Sequence[str] | None = None,
    media_type: str | None = None,
    progress: bool = True,
) -> BatchReport:
    """Super-resolve every scene of a STAC catalog into ``outdir``, with a STAC catalog of the products.

    Parameters
    ----------
    catalog : str or path
        What :func:`satsr.catalog.read_catalog` reads: a catalog, collection, ItemCollection or item.
    outdir : str or path
        Output folder (created if missing; its parent must exist).
    cfg : JobConfig, optional
        Model and options; default the default model on ``device="auto"``.
    workers : int, optional
        Worker processes of the local cluster, each with ``cores // workers`` threads; default
        ``min(items, max(2, cores // 4))``. ``0`` runs the items one by one in this process, without
        dask.distributed.
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://host:8786``); ``workers`` is then ignored.
    resume : bool, default False
        Skip items whose product is complete (item JSON present, every file matching its checksum).
        Without it, existing products are replaced.
    retries : int, default 1
        Further attempts for an item that fails.
    assets, media_type : optional
        Asset selection (see :func:`satsr.catalog.read_catalog`).
    progress : bool, default True
        Progress bars over items and over tile blocks (stderr).

    Returns
    -------
    BatchReport
        Also written to ``outdir/run-report.json``.

    Raises
    ------
    CatalogError
        The catalog cannot be read.
    OutputError
        ``outdir`` cannot be created.
    UnknownModelError, ModelError
        An unknown model or options; a network with neither shipped nor given weights (``cfg.pretrained``).
    """
    import torch

    from satsr import models
    from satsr.engine import resolve_precision
    from satsr.models.factory import resolve_weights

    cfg = cfg or JobConfig()
    started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    t0 = time.perf_counter()
    scenes = read_catalog(catalog, assets=assets, media_type=media_type)
    # a network without weights to run (nor pretrained=False), an unknown precision: one clear error before any
    # folder is made
    resolve_weights(cfg.model, cfg.pretrained, **dict(cfg.model_options))
    resolve_precision(cfg.precision, torch.device("cpu"))  # checks the name
    out = Path(outdir)
    make_parent(out / "catalog.json")  # the output folder and any missing folders above it
    spec = models.get_spec(cfg.model)  # unknown model: one clear error before any work
    scale = int(cfg.scale or spec.scale)
    if retries < 0:
        raise InputError(f"retries must be 0 or more, got {retries}")

    results: dict[str, ItemResult] = {}
    todo: list[Scene] = []
    for s in scenes:
        _, item_path = _product_paths(out, s.id, scale)
        if resume and verify_product(item_path)[0]:
            results[s.id] = ItemResult(s.id, "skipped", product=str(item_path))
        else:
            todo.append(s)

    if todo:
        artifact, n_params = write_model_artifact(cfg, out / "model", scale)
        cfg = replace(cfg, artifact=str(artifact), parameters=n_params)
    items_bar = bar(total=len(scenes), initial=len(results), desc="items", unit="item", enabled=progress,
                     position=0)
    tiles_bar = bar(total=0, desc="tile blocks", unit="block", enabled=progress, position=1, leave=False)
    n_workers: int | str = 0
    try:
        if todo and workers == 0 and scheduler is None:
            local_state: dict[str, int | None] = {"total": 0}

            for s in todo:
                base = tiles_bar.n

                def on_tiles(done: int, total: int, base: int = base) -> None:
                    if total != local_state.get("cur"):
                        local_state["cur"] = total
                        tiles_bar.total = base + total
                    tiles_bar.n = base + done
                    tiles_bar.refresh()

                r = process_scene(s, out, cfg, retries=retries, report=on_tiles)
                local_state["cur"] = None
                results[s.id] = r
                items_bar.update(1)
        elif todo:
            n_workers = scheduler or (workers if workers is not None else _default_workers(len(todo)))
            for r in _run_distributed(todo, out, cfg, scheduler, workers, retries, items_bar, tiles_bar):
                results[r.id] = r
    finally:
        tiles_bar.close()
        items_bar.close()

    ordered = [results[s.id] for s in scenes]
    products = [r.product for r in ordered if r.product and r.status in ("done", "skipped")]
    cat_path = _write_catalog(out, f"{Path(os.fspath(catalog)).stem}{SR_SUFFIX.format(scale=scale)}",
                              [p for p in products if p], os.fspath(catalog))
    report = BatchReport(str(out), str(cat_path), ordered, started, time.perf_counter() - t0, n_workers)
    _write_json_atomic(out / "run-report.json", {
        "satsr": package_version(), "catalog": os.path.abspath(os.fspath(catalog)), "outdir": str(out.resolve()),
        "started": started, "seconds": round(report.seconds, 3), "workers": n_workers, "config": asdict(cfg),
        "counts": report.counts(), "items": [asdict(r) for r in ordered],
    })
    return report


def _run_distributed(
    todo: list[Scene], out: Path, cfg: JobConfig, scheduler: str | None, workers: int | None, retries: int,
    items_bar: Any, tiles_bar: Any,
) -> list[ItemResult]:
    from distributed import Client, LocalCluster, as_completed

    gpu = str(cfg.device).startswith("cuda")
    cluster = None
    if scheduler is None:
        import torch

        use_gpu = gpu or (cfg.device == "auto" and torch.cuda.is_available())
        # One worker process per GPU: each binds its own device (cuda:<worker name>, see _worker_device).
        default = torch.cuda.device_count() if use_gpu and cfg.device in ("auto", "cuda") else None
        n = workers if workers is not None else default or _default_workers(len(todo))
        if cfg.threads is None:
            cfg = replace(cfg, threads=max(1, usable_cores() // n))
        # dask spawns workers with OMP_NUM_THREADS=1 and MALLOC_TRIM_THRESHOLD_=65536 (its pre-spawn
        # environment); with those, a forward of lgtd-s in a worker took twice as long as in this process, even
        # after torch.set_num_threads. Each worker gets its share of the cores instead, and glibc's default trim.
        share = str(cfg.threads)
        environ = {"OMP_NUM_THREADS": share, "MKL_NUM_THREADS": share, "OPENBLAS_NUM_THREADS": share}
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                   resources={"GPU": 1} if use_gpu else None)
        gpu = gpu or use_gpu
    client = Client(cluster if cluster is not None else scheduler)
    totals: dict[str, tuple[int, int]] = {}

    def on_tiles(event: Any) -> None:
        _, msg = event
        totals[msg["id"]] = (msg["done"], msg["total"])
        tiles_bar.total = sum(t for _, t in totals.values())
        tiles_bar.n = sum(d for d, _ in totals.values())
        tiles_bar.refresh()

    results = []
    try:
        client.subscribe_topic(TILES_TOPIC, on_tiles)
        futures = {}
        for s in todo:
            # retries goes positionally: submit() has a retries= of its own (re-running tasks that raise, which
            # process_scene never does).
            fut = client.submit(process_scene, s, str(out), cfg, retries, key=f"satsr-item-{s.id}",
                                pure=False, resources={"GPU": 1} if gpu else None)
            futures[fut] = s
        for fut in as_completed(futures):
            s = futures[fut]
            try:
                r = fut.result()
            except Exception as err:  # the worker died (KilledWorker...) or could not unpickle: the item failed
                r = ItemResult(s.id, "failed", error=f"{type(err).__name__}: {err}", attempts=retries + 1)
            results.append(r)
            items_bar.update(1)
    finally:
        client.unsubscribe_topic(TILES_TOPIC)
        client.close()
        if cluster is not None:
            cluster.close()
    return results


__all__ += ["output_id", "CatalogError"]
