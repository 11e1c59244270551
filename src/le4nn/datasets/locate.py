"""Where dataset files are looked for, in order, and the download into the cache.

1. an explicit ``path=`` (a folder, or for CIFAR-10 also the archive); nothing else is tried when it is given;
2. ``$LE4NN_DATA/<folder>/`` for each of the dataset's folder names (``LE4NN_DATA`` may list several roots,
   separated by ``os.pathsep``);
3. the cache ``~/.le4nn/datasets/<name>/`` (``$LE4NN_CACHE/<name>/`` when ``LE4NN_CACHE`` is set); when
   downloads are allowed, cached files whose hash differs from the official one are downloaded again;
4. system folders: ``<dir>/<folder>/`` for ``dir`` in :data:`SYSTEM_DIRS` (Debian's
   ``dataset-fashion-mnist`` package installs ``/usr/share/datasets/fashion-mnist``);
5. a download from the official mirrors into the cache (pooch: hash verification, a progress bar, the
   next mirror when one fails), unless ``LE4NN_OFFLINE=1`` or ``download=False``.

When all fail, :class:`DatasetNotFoundError` lists every place looked at and how to supply the files.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from le4nn._typing import PathLike
from le4nn.datasets.errors import DatasetNotFoundError

ENV_DATA = "LE4NN_DATA"
ENV_CACHE = "LE4NN_CACHE"
ENV_OFFLINE = "LE4NN_OFFLINE"

#: Roots of system-wide dataset folders, searched after the cache (tests replace this list).
SYSTEM_DIRS: list[Path] = [Path("/usr/share/datasets"), Path("/usr/local/share/datasets")]

#: probe(candidate) -> (the folder or file to load, None) or (None, why the candidate is not usable)
Probe = Callable[[Path], "tuple[Path | None, str]"]


@dataclass(frozen=True)
class DatasetSpec:
    """What ``find`` needs to know about one dataset."""

    name: str  # canonical name, also the cache folder name
    title: str  # for messages
    folders: tuple[str, ...]  # folder names tried under each root of LE4NN_DATA and of the system folders
    probe: Probe
    files_hint: str  # the files a user must supply, for the "not found" message
    mirrors: tuple[str, ...] = ()  # base URLs, tried in order
    remote_files: tuple[tuple[str, str], ...] = ()  # (file name, "sha256:..." or "md5:...")
    extra_candidates: tuple[str, ...] = field(default=())  # more names tried under LE4NN_DATA roots


def downloads_allowed(download: bool | None = None) -> bool:
    """False when ``download=False`` or ``LE4NN_OFFLINE`` is set to anything but ``""``/``0``/``false``/``no``."""
    if download is False:
        return False
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in ("", "0", "false", "no", "off")


def data_roots() -> list[Path]:
    value = os.environ.get(ENV_DATA, "")
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]


def cache_root() -> Path:
    value = os.environ.get(ENV_CACHE, "").strip()
    return Path(value).expanduser() if value else Path.home() / ".le4nn" / "datasets"


def cache_dir(spec: DatasetSpec) -> Path:
    return cache_root() / spec.name


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_matches(path: Path, known_hash: str) -> bool:
    algorithm, _, value = known_hash.partition(":")
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest() == value.lower()


def _retrieve(url: str, known_hash: str, fname: str, folder: Path) -> Path:
    """Download one file with pooch (verified against ``known_hash``, re-downloaded on a mismatch)."""
    try:
        import pooch
    except ImportError as exc:  # pragma: no cover - pooch is a dependency
        raise RuntimeError("downloading needs pooch (pip install pooch)") from exc
    return Path(pooch.retrieve(url=url, known_hash=known_hash, fname=fname, path=folder, progressbar=True))


def fetch(spec: DatasetSpec, folder: Path | None = None) -> Path:
    """Fetch every file of ``spec`` into ``folder`` (default: its cache folder), trying the mirrors in turn.

    Files already there with the right hash are kept.  Raises ``OSError`` listing each mirror's failure.
    """
    folder = cache_dir(spec) if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    for fname, known_hash in spec.remote_files:
        failures = []
        for mirror in spec.mirrors:
            url = mirror + fname
            try:
                _retrieve(url, known_hash, fname, folder)
                break
            except Exception as exc:  # noqa: BLE001 - any failure means: try the next mirror
                failures.append(f"{url}: {type(exc).__name__}: {exc}")
        else:
            raise OSError(f"could not download {fname}: " + "; ".join(failures))
    return folder


def _verify_cache(spec: DatasetSpec, folder: Path) -> None:
    """Re-download cached files whose hash is not the official one (only files with the official names)."""
    bad = [(fname, known) for fname, known in spec.remote_files
           if (folder / fname).is_file() and not file_matches(folder / fname, known)]
    if not bad:
        return
    try:
        fetch(spec, folder)
    except OSError as exc:
        names = ", ".join(fname for fname, _ in bad)
        warnings.warn(f"{spec.title}: cached {names} in {folder} differ from the official files and could not be "
                      f"downloaded again ({exc}); using them as they are", stacklevel=3)


def candidates(spec: DatasetSpec, root: Path) -> list[Path]:
    return [root / name for name in (*spec.folders, *spec.extra_candidates)]


def find(spec: DatasetSpec, path: PathLike | None = None, download: bool | None = None) -> Path:
    """The folder (or archive) holding ``spec``'s files, searched in the order of the module docstring."""
    if path is not None:
        candidate = Path(path).expanduser()
        found, reason = spec.probe(candidate)
        if found is not None:
            return found
        raise DatasetNotFoundError(
            f"{spec.title} not found at {candidate}: {reason}; {spec.files_hint}",
            spec.name, [("path=", candidate, reason)],
        )
    places: list[tuple[str, Path | None, str]] = []

    def try_place(label: str, candidate: Path) -> Path | None:
        found, reason = spec.probe(candidate)
        if found is None:
            places.append((label, candidate, reason))
        return found

    roots = data_roots()
    if not roots:
        places.append((f"${ENV_DATA}", None, "not set"))
    for root in roots:
        for candidate in candidates(spec, root):
            if (found := try_place(f"${ENV_DATA}", candidate)) is not None:
                return found
    cache = cache_dir(spec)
    if (found := try_place("cache", cache)) is not None:
        if downloads_allowed(download) and spec.remote_files:
            _verify_cache(spec, cache)
        return found
    for system_dir in SYSTEM_DIRS:
        for name in spec.folders:
            if (found := try_place("system", system_dir / name)) is not None:
                return found
    if not spec.remote_files:
        places.append(("download", None, "no download source is known"))
    elif not downloads_allowed(download):
        why = "download=False" if download is False else f"{ENV_OFFLINE}={os.environ.get(ENV_OFFLINE)}"
        places.append(("download", None, f"disabled ({why})"))
    else:
        try:
            fetch(spec, cache)
        except OSError as exc:
            places.append(("download", None, f"failed: {exc}"))
        else:
            if (found := try_place("cache (after download)", cache)) is not None:
                return found
    raise DatasetNotFoundError(_not_found_message(spec, places, cache), spec.name, places)


def _not_found_message(spec: DatasetSpec, places, cache: Path) -> str:
    lines = [f"{spec.title} not found. Looked in, in order:"]
    for label, where, reason in places:
        lines.append(f"  - {label}: {where}: {reason}" if where is not None else f"  - {label}: {reason}")
    lines += [
        f"To supply {spec.files_hint}, do one of:",
        "  - pass their folder explicitly (path=FOLDER)",
        f"  - put them in ROOT/{spec.folders[0]}/ and set {ENV_DATA}=ROOT",
        f"  - copy them into the cache folder {cache}/ ({ENV_CACHE} moves the cache root)",
    ]
    if spec.remote_files:
        lines.append(f"  - let le4nn download them: unset {ENV_OFFLINE}, don't pass download=False "
                     "(needs internet access)")
    return "\n".join(lines)
