"""A local Kubernetes cluster with one real node: containerd, runc, CNI, kubelet, kube-proxy.

Built on :mod:`sre_cli.k8s` (the control plane); :mod:`sre_cli.cluster.cluster` holds
``LocalCluster``. Nothing heavy is imported here.
"""
