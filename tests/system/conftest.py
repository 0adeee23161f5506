"""System tests: a real Kubernetes API (k8s/up.sh: kube-apiserver, controller-manager, scheduler,
kwok fake nodes), one per pytest session, started on first use."""

from kube_cluster import make_kube_cluster_fixture

kube_cluster = make_kube_cluster_fixture("session")
