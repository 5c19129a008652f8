"""One short probe of the model hub before anything would download, so that no command sits in Hugging Face's
retry loops (about 50 s and 22 lines of retries without network) before saying it cannot reach the hub.

`train`, `train --dry-run` and `preview` call ``hub_problem`` before loading a tokenizer or model by hub id;
`doctor` shows the same probe. HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE and HF_ENDPOINT are honoured. No torch.

With USE_MODELSCOPE_HUB / USE_OPENMIND_HUB, a hub id is that hub's (LLaMA-Factory's extras/misc.py:294-328): its
local cache first (hub_cache.find_model), else one probe of that hub with the same deadline, and never an import
of the hub's SDK until a download is really needed (recipe.model_path).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import urllib.error
import urllib.request
from typing import List, Optional

from lfgate import hub_cache
from lfgate.lf_facts import hf_offline

PROBE_TIMEOUT = 3.0  # seconds; the whole answer must come in well under 5 s
DEFAULT_ENDPOINT = "https://huggingface.co"
ADVICE = ("set HF_HUB_OFFLINE=1 with a cached model, or point model_name_or_path at a local folder")

# per cache: the flag, the SDK LLaMA-Factory downloads with, its endpoint (variables in the SDK's order, default),
# the download command. modelscope 1.40 (modelscope_hub/config.py): MODELSCOPE_ENDPOINT, then the deprecated
# MODELSCOPE_DOMAIN (a host name), then https://modelscope.cn.
OTHER_HUBS = {
    hub_cache.MODELSCOPE_CACHE: ("USE_MODELSCOPE_HUB", "modelscope", ("MODELSCOPE_ENDPOINT", "MODELSCOPE_DOMAIN"),
                                 "https://modelscope.cn", "modelscope download --model {name}"),
    hub_cache.OPENMIND_CACHE: ("USE_OPENMIND_HUB", "openmind", ("OPENMIND_HUB_ENDPOINT",), "https://modelers.cn",
                               "openmind-cli pull {name}"),
}


def other_hub() -> bool:
    """ModelScope / Modelers downloads: LLaMA-Factory's USE_MODELSCOPE_HUB / USE_OPENMIND_HUB."""
    return hub_cache.other_hub() is not None


def other_endpoint(cache: str) -> str:
    """The URL the ModelScope / openMind SDK downloads from (MODELSCOPE_DOMAIN is a host name, https:// added)."""
    _, _, variables, default, _ = OTHER_HUBS[cache]
    value = next((os.environ[v].strip() for v in variables if os.environ.get(v, "").strip()), default).rstrip("/")
    return value if "://" in value else "https://" + value


def other_hub_problem(name: str, cache_dir: Optional[str] = None, revision: Optional[str] = None,
                      weights: bool = False) -> Optional[str]:
    """With USE_MODELSCOPE_HUB / USE_OPENMIND_HUB: why the hub id `name` cannot be loaded from here, or None (a
    local path, in that hub's cache (with its weights when `weights`), or the hub answers and its SDK is
    installed). One probe, PROBE_TIMEOUT."""
    cache = hub_cache.other_hub()
    if cache is None or not name or os.path.exists(os.path.expanduser(name)) or not hub_cache.is_hub_id(name):
        return None  # LLaMA-Factory loads an existing path as it is (misc.py:295)
    if hub_cache.find_model(name, weights, revision=revision, cache_dir=cache_dir) is not None:
        return None
    flag, package, _, _, command = OTHER_HUBS[cache]
    root = hub_cache.cache_root(cache_dir=cache_dir)
    partial = weights and hub_cache.find_model(name, revision=revision, cache_dir=cache_dir) is not None
    missing = f"{name} is not in {cache} at {root}" + (" with its weights" if partial else "")
    url = other_endpoint(cache)
    why = reachable(url, PROBE_TIMEOUT)
    if why is not None:
        return (f"{missing}; offline (cannot reach {shown(url)}: {why}): download it where there is network "
                f"(`{command.format(name=name)}`) and copy that cache here, or point model_name_or_path at a "
                "local folder")
    if not installed(package):  # LLaMA-Factory would import it to download
        return f"{missing}, and {flag} downloads it with the {package} package, not installed: pip install {package}"
    return None


def llamafactory_problem(name: str, cache_dir: Optional[str] = None, revision: Optional[str] = None) -> Optional[str]:
    """`--backend llamafactory` with USE_MODELSCOPE_HUB: why llamafactory-cli cannot load the hub id from here, or
    None. Its download asks ModelScope before the cache even for a model that is there (extras/misc.py:309
    snapshot_download, without local_files_only): offline, modelscope 1.40 stops with [E1020] after its retries."""
    if hub_cache.other_hub() != hub_cache.MODELSCOPE_CACHE or not hub_cache.is_hub_id(name) \
            or os.path.exists(os.path.expanduser(name)):
        return other_hub_problem(name, cache_dir, revision, weights=True)
    found = hub_cache.find_model(name, True, revision=revision, cache_dir=cache_dir)
    if found is None:
        return other_hub_problem(name, cache_dir, revision, weights=True)
    url = other_endpoint(hub_cache.MODELSCOPE_CACHE)
    why = reachable(url, PROBE_TIMEOUT)
    if why is None:
        return None
    return (f"{name} is in the ModelScope cache ({found.path}), but ModelScope does not answer ({shown(url)}: "
            f"{why}) and LLaMA-Factory's download asks it before the cache, even for a cached model (modelscope "
            f"stops with [E1020] after its retries): set `model_name_or_path: {found.path}` (a local folder is "
            "loaded as it is), or train with the built-in runner")


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def shown(url: str) -> str:
    """The URL without user:password@ (messages get pasted into bug reports)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<HF_ENDPOINT>"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def reachable(url: str, timeout: float = PROBE_TIMEOUT) -> Optional[str]:
    """None when the URL answers (any HTTP status is an answer), else the reason, in a few words. A hard deadline:
    urlopen's timeout does not bound a DNS lookup, so the probe runs in a daemon thread that is waited for."""
    import threading

    answer: List[Optional[str]] = [f"no answer within {timeout:g} s"]
    probe = threading.Thread(target=lambda: answer.__setitem__(0, _head(url, timeout)), daemon=True)
    probe.start()
    probe.join(timeout + 0.5)
    return answer[0]


def _head(url: str, timeout: float) -> Optional[str]:
    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # the server answered
    except Exception as err:  # DNS, refused, timeout, proxy, TLS: not reachable from here
        reason = getattr(err, "reason", None) or err
        return reason if isinstance(reason, str) else type(reason).__name__


def in_cache(name: str, cache_dir: Optional[str] = None, revision: Optional[str] = None) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(name, "config.json", cache_dir=cache_dir, revision=revision)
    except Exception:  # an id the hub library rejects
        return False
    return isinstance(found, str)


def installed(package: str) -> bool:
    """Whether the package can be imported, without importing it (nor its parent: no dots here)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # ValueError: already imported without a spec
        return package in sys.modules


def hub_problem(name: str, cache_dir: Optional[str] = None, revision: Optional[str] = None,
                weights: bool = False) -> Optional[str]:
    """Why the model `name` cannot be loaded from here, or None (a local folder, cached, or the hub answers).

    A cached model with an unreachable hub turns offline mode on for this process, so that transformers loads
    it from the cache at once instead of retrying the network. `weights`: the run needs the weights too (train),
    not only the tokenizer and config.json (preview, the dry run)."""
    if other_hub():
        return other_hub_problem(name, cache_dir, revision, weights)
    if not name or os.path.isdir(os.path.expanduser(name)):
        return None
    cached = in_cache(name, cache_dir, revision)
    if hf_offline():
        return None if cached else (f"{name} is not in the local cache and HF_HUB_OFFLINE forbids downloading "
                                    f"it: download it first, or point model_name_or_path at a local folder")
    why = reachable(endpoint())
    if why is None:
        return None
    if cached:
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:
            import huggingface_hub.constants as constants

            constants.HF_HUB_OFFLINE = True
        except ImportError:
            pass
        return None
    return f"cannot reach the hub at {shown(endpoint())} ({why}) to fetch {name}: {ADVICE}"
