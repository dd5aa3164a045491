"""Leader election on a coordination.k8s.io Lease: two prescaler replicas run, only the leader acts.

This module must not act on policies; any failure to read or write the Lease means "do not act".
"""

from __future__ import annotations

import logging
import math
from typing import Any

import pandas as pd

from forecaster.prescaler.kube import LEASES, KubeClient, KubeError, NotFoundError, micro_time
from forecaster.prescaler.status import utc_naive

__all__ = ["LeaderElector"]

log = logging.getLogger(__name__)


class LeaderElector:
    """A coordination.k8s.io Lease held by one replica at a time (client-go's algorithm, simplified).

    Expiry is judged on the *observer's* clock: a lease is free when its record has not changed for
    ``leaseDurationSeconds`` since this replica first saw it, so clock skew between replicas cannot make two
    leaders. Writes carry the resourceVersion, so of two replicas racing for a free lease one gets a 409.
    """

    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str,
        name: str = "forecaster-prescaler",
        identity: str,
        lease_duration_s: float = 15.0,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration_s = lease_duration_s
        self.leading = False
        self._observed_rv: str | None = None
        self._observed_at: pd.Timestamp | None = None

    def _body(
        self, now: pd.Timestamp, *, rv: str | None, spec: dict[str, Any], holder: str
    ) -> dict[str, Any]:
        taking_over = spec.get("holderIdentity") != holder
        new_spec = {
            "holderIdentity": holder,
            "leaseDurationSeconds": max(1, math.ceil(self.lease_duration_s)),
            "renewTime": micro_time(now),
            "acquireTime": micro_time(now) if taking_over else spec.get("acquireTime", micro_time(now)),
            "leaseTransitions": int(spec.get("leaseTransitions") or 0) + (1 if taking_over and spec else 0),
        }
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if rv:
            meta["resourceVersion"] = rv
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": new_spec}

    def ensure(self, now: pd.Timestamp) -> bool:
        """Acquire or renew the lease; True while this replica leads. Any failure means "do not act"."""
        now = utc_naive(now)
        try:
            lease = self.kube.get(LEASES, namespace=self.namespace, name=self.name)
        except NotFoundError:
            try:
                created = self.kube.create(
                    LEASES,
                    namespace=self.namespace,
                    body=self._body(now, rv=None, spec={}, holder=self.identity),
                )
            except KubeError as exc:
                log.info("could not create lease %s/%s: %s", self.namespace, self.name, exc)
                return self._set(False)
            self._observe(created, now)
            return self._set(True)
        except KubeError as exc:
            log.warning("cannot read lease %s/%s: %s", self.namespace, self.name, exc)
            return self._set(False)
        spec = lease.get("spec") or {}
        rv = lease["metadata"].get("resourceVersion")
        if rv != self._observed_rv:
            self._observe(lease, now)
        holder = spec.get("holderIdentity") or ""
        duration = pd.Timedelta(seconds=float(spec.get("leaseDurationSeconds") or self.lease_duration_s))
        assert self._observed_at is not None
        if holder and holder != self.identity and now < self._observed_at + duration:
            return self._set(False)
        try:
            updated = self.kube.replace(
                LEASES,
                namespace=self.namespace,
                name=self.name,
                body=self._body(now, rv=rv, spec=spec, holder=self.identity),
            )
        except KubeError as exc:
            log.info("lost the race for lease %s/%s: %s", self.namespace, self.name, exc)
            return self._set(False)
        if holder != self.identity:
            log.warning("%s is now the leader (lease %s/%s)", self.identity, self.namespace, self.name)
        self._observe(updated, now)
        return self._set(True)

    def release(self, now: pd.Timestamp) -> None:
        """Give the lease up (clean shutdown) so another replica takes over at once."""
        if not self.leading:
            return
        try:
            lease = self.kube.get(LEASES, namespace=self.namespace, name=self.name)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") == self.identity:
                body = self._body(
                    utc_naive(now), rv=lease["metadata"].get("resourceVersion"), spec=spec, holder=""
                )
                body["spec"]["leaseDurationSeconds"] = 1
                body["spec"]["leaseTransitions"] = int(spec.get("leaseTransitions") or 0)
                self.kube.replace(LEASES, namespace=self.namespace, name=self.name, body=body)
        except KubeError as exc:
            log.warning("could not release lease %s/%s: %s", self.namespace, self.name, exc)
        self.leading = False

    def _observe(self, lease: dict[str, Any], now: pd.Timestamp) -> None:
        self._observed_rv = lease["metadata"].get("resourceVersion")
        self._observed_at = now

    def _set(self, leading: bool) -> bool:
        self.leading = leading
        return leading
