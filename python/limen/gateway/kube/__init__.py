"""The Kubernetes driver (``protocol = "kubernetes"``), built on the HTTP
driver: ``session`` (:class:`KubeSession`, :class:`KubeGateway`),
``relay`` (parse, Pod Security Standards, dry run, judge), ``status``
(limen's answers as Kubernetes ``Status`` objects). See docs/kubernetes.md."""

from limen.gateway.kube.session import KubeGateway, KubeSession

__all__ = ["KubeGateway", "KubeSession"]
