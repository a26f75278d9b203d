"""Where kopf keeps the "last handled" state of a DatabricksJob: a digest, not a copy.

kopf's default keeps a JSON copy of the whole object essence (spec, labels, annotations, and so
kubectl's own last-applied copy) in one annotation. Annotations are limited to 256 KiB in total,
and a job of 1000 tasks — within the Jobs API's limits — is larger than that, so every handling
cycle failed with ``metadata.annotations: Too long``. The controller never reads kopf's field
diffs (each reconcile compares the whole spec with the live job), so a SHA-256 of the essence
is enough to tell "changed" from "unchanged".
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

import kopf

#: The spec kopf sees as "before" when the digest no longer matches: any value unlike a real spec.
STALE_MARKER = "dbjobs.io/stale-essence"


def digest(essence: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``essence``."""
    canonical = json.dumps(essence, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


class DigestDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """An annotations diff-base storage that stores ``digest(essence)`` instead of the essence.

    ``fetch`` returns the current essence when the stored digest matches it (no change), a stub
    whose spec differs from any real spec when it does not (a change: the update and field
    handlers run, and they do not depend on the exact diff), and None when nothing was stored
    (kopf's signal for a new object).
    """

    def fetch(self, *, body: kopf.Body) -> Any:
        for full_key in self.make_keys(self.key, body=body):
            stored = body.metadata.annotations.get(full_key)
            if stored is None:
                continue
            current = self.build(body=body)
            if stored.strip() == digest(current):
                return current
            return cast(Any, {"spec": {STALE_MARKER: stored.strip()}})
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: Any) -> None:
        for full_key in self.make_keys(self.key, body=body):
            patch.metadata.annotations[full_key] = digest(essence)
        self._store_marker(prefix=self.prefix, patch=patch, body=body)
