"""The Kubernetes control plane without nodes: kube-apiserver (on etcd) and kube-controller-manager, built from
the k8s.io/kubernetes Go module by `falcone.toolchain.build_server` (version and wrapper module in
toolchain/versions.toml, `[servers.kubernetes]`).

No scheduler and no kubelet: objects are validated, admitted and stored by the real API server, nothing runs. The
controller manager runs only the controllers that need no node: deleting a namespace's content and finalizing it
(without them a deleted namespace stays `Terminating` forever), garbage collection, quota usage, service
accounts and the root-CA config map.
"""

from pathlib import Path

from pydantic import BaseModel

from falcone import toolchain
from falcone.errors import SetupError
from localplatform import kubernetes_pki, process
from localplatform.endpoints import KubernetesEndpoint
from localplatform.errors import InstallError, StartError
from localplatform.etcd import Etcd
from localplatform.http import https_status
from localplatform.service import Launch, PortSpec, Service
from localplatform.settings import PlatformSettings

SERVER = "kubernetes"  # [servers.kubernetes] in toolchain/versions.toml

# Admission plugins that need no scheduler or kubelet (all on by default; named so the choice is visible).
ADMISSION_PLUGINS = ("NamespaceLifecycle", "LimitRanger", "ServiceAccount", "ResourceQuota", "PodSecurity")
CONTROLLERS = (
    "namespace-controller",
    "garbage-collector-controller",
    "resourcequota-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
)


def _binary(command: str) -> Path:
    built = toolchain.load()
    return built.server_binary(built.server(SERVER), command)


def _install(log: Path) -> None:
    built = toolchain.load()

    def progress(line: str) -> None:
        with log.open("a") as handle:
            handle.write(f"{line}\n")

    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        toolchain.build_server(built, built.server(SERVER), progress)
    except SetupError as error:
        raise InstallError(f"kubernetes: {error}") from None


def _wait_for(needed: Service, who: str, timeout: float) -> None:
    if not process.wait_for(needed.probe, timeout, 0.5):
        raise StartError(
            f"{who}: {needed.name} is not ready after {timeout:.0f}s.\n"
            f"fix: scripts/platform start {needed.name} {who} (and see {needed.log_file})"
        )


class KubeApiServer(Service):
    name = "kube-apiserver"
    version = toolchain.load().server(SERVER).version
    endpoint_key = "kubernetes"
    start_timeout = 120.0

    def __init__(self, settings: PlatformSettings) -> None:
        super().__init__(settings)
        self.cluster = kubernetes_pki.files(settings)

    @property
    def url(self) -> str:
        return kubernetes_pki.server_url(self.settings)

    def ports(self) -> list[PortSpec]:
        return [PortSpec(self.settings.kube_apiserver_port, "kube_apiserver_port", "HTTPS API")]

    def install(self) -> None:
        _install(self.log_file)

    def prepare(self) -> None:
        self.data_path.mkdir(parents=True, exist_ok=True)
        kubernetes_pki.ensure(self.settings)
        etcd = Etcd(self.settings)
        _wait_for(etcd, self.name, etcd.start_timeout)

    def launch(self) -> Launch:
        pki = self.cluster
        return Launch(
            cmd=[
                str(_binary("kube-apiserver")),
                f"--etcd-servers={Etcd(self.settings).client_url}",
                f"--bind-address={self.settings.host}",
                f"--advertise-address={self.settings.host}",
                f"--secure-port={self.settings.kube_apiserver_port}",
                f"--tls-cert-file={pki.cert('apiserver')}",
                f"--tls-private-key-file={pki.key('apiserver')}",
                f"--cert-dir={self.data_path / 'certs'}",  # default /var/run/kubernetes; nothing is written here
                f"--client-ca-file={pki.cert('ca')}",
                # Every request authenticates; /readyz too (our probe presents the admin certificate).
                "--anonymous-auth=false",
                "--authorization-mode=RBAC",
                f"--enable-admission-plugins={','.join(ADMISSION_PLUGINS)}",
                "--allow-privileged=false",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.service_account_public_key}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                f"--service-cluster-ip-range={kubernetes_pki.SERVICE_CLUSTER_IP_RANGE}",
                # The `kubernetes` Service's endpoints would point at a loopback address, which Endpoints refuse.
                "--endpoint-reconciler-type=none",
                "--profiling=false",
            ],
        )

    def is_ready(self) -> bool:
        pki = self.cluster
        status = https_status(f"{self.url}/readyz", pki.cert("ca"), pki.cert("admin"), pki.key("admin"))
        return status == 200

    def failure_hint(self, log_tail: str) -> str:
        if "connection refused" in log_tail and "etcd" in log_tail:
            return f"etcd stopped answering: scripts/platform status etcd (log {Etcd(self.settings).log_file})"
        return ""

    def endpoint(self) -> BaseModel | None:
        pki = self.cluster
        return KubernetesEndpoint(
            server=self.url,
            ca_file=pki.cert("ca"),
            client_certificate_file=pki.cert("admin"),
            client_key_file=pki.key("admin"),
            kubeconfig=pki.admin_kubeconfig,
        )


class KubeControllerManager(Service):
    name = "kube-controller-manager"
    version = KubeApiServer.version
    start_timeout = 60.0

    def __init__(self, settings: PlatformSettings) -> None:
        super().__init__(settings)
        self.cluster = kubernetes_pki.files(settings)

    def ports(self) -> list[PortSpec]:
        return [PortSpec(self.settings.kube_controller_manager_port, "kube_controller_manager_port", "health")]

    def install(self) -> None:
        _install(self.log_file)

    def prepare(self) -> None:
        self.data_path.mkdir(parents=True, exist_ok=True)
        kubernetes_pki.ensure(self.settings)
        apiserver = KubeApiServer(self.settings)
        _wait_for(apiserver, self.name, apiserver.start_timeout)

    def launch(self) -> Launch:
        pki = self.cluster
        return Launch(
            cmd=[
                str(_binary("kube-controller-manager")),
                f"--kubeconfig={pki.controller_manager_kubeconfig}",
                # No delegated authentication/authorization (they need the API server's front-proxy CA): the port
                # answers the always-allowed /healthz, /readyz and /livez and refuses everything else.
                f"--bind-address={self.settings.host}",
                f"--secure-port={self.settings.kube_controller_manager_port}",
                f"--tls-cert-file={pki.cert('controller-manager-serving')}",
                f"--tls-private-key-file={pki.key('controller-manager-serving')}",
                f"--cert-dir={self.data_path / 'certs'}",
                f"--controllers={','.join(CONTROLLERS)}",
                # Each controller acts as its own service account with the bootstrap RBAC roles, as in a cluster.
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki.service_account_key}",
                f"--root-ca-file={pki.cert('ca')}",
                "--leader-elect=false",
                "--profiling=false",
            ],
        )

    def is_ready(self) -> bool:
        # /healthz is always allowed, so no credential is needed; our CA verifies the serving certificate.
        url = f"https://{self.settings.host}:{self.settings.kube_controller_manager_port}/healthz"
        return https_status(url, self.cluster.cert("ca")) == 200

    def endpoint(self) -> BaseModel | None:
        return None  # nothing talks to the controller manager
