"""Keycloak, the server distribution from Maven Central (org.keycloak:keycloak-quarkus-dist), run in
dev mode on Java 25 with its dev-file (H2) database kept in the data dir, so realms and users
survive restarts.
"""

import os
import shutil
from pathlib import Path

from pydantic import BaseModel

from localplatform import tools, versions
from localplatform.endpoints import KeycloakEndpoint
from localplatform.http import http_status
from localplatform.process import run_checked
from localplatform.service import Launch, PortSpec, Service

ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{versions.KEYCLOAK}:tar.gz"


class Keycloak(Service):
    name = "keycloak"
    version = versions.KEYCLOAK
    start_timeout = 300.0  # Quarkus build + JVM warm-up on 2 shared cores

    @property
    def tool_dir(self) -> Path:
        return self.settings.tools_dir / f"keycloak-{self.version}"

    @property
    def home(self) -> Path:
        return self.tool_dir / f"keycloak-{self.version}"

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.keycloak_port}"

    def ports(self) -> list[PortSpec]:
        return [PortSpec(self.settings.keycloak_port, "keycloak_port")]

    def java_home(self) -> Path:
        # Keycloak >= 26.6 supports Java 25; Debian bookworm has no JDK 21/25 package, so the
        # machine's Temurin 25 is the default. Java 17 also runs 26.x (deprecated upstream).
        return tools.java_home(
            self.settings.java25_home,
            "java25_home",
            f"Keycloak {self.version} (Java 25)",
            "install a Java 25 JDK (or Java 17: apt-get install -y openjdk-17-jdk-headless, then "
            "FALCONE_JAVA25_HOME=/usr/lib/jvm/java-17-openjdk-amd64)",
        )

    def install(self) -> None:
        self.java_home()
        with tools.install_lock(self.tool_dir):
            if tools.is_installed(self.tool_dir):
                return
            mvn = tools.maven("keycloak: downloading Keycloak")
            tools.fresh_dir(self.tool_dir)
            download = self.tool_dir / "download"
            run_checked(
                [
                    mvn,
                    "-B",
                    "-q",
                    f"org.apache.maven.plugins:maven-dependency-plugin:{versions.MAVEN_DEPENDENCY_PLUGIN}:copy",
                    f"-Dartifact={ARTIFACT}",
                    f"-DoutputDirectory={download}",
                ],
                f"download {ARTIFACT} with Maven",
                "check that Maven Central is reachable and the version exists "
                "(localplatform/versions.py KEYCLOAK), then run the command again",
                log_path=self.log_file,
            )
            tarball = next(download.glob("*.tar.gz"))
            # tar (not zipfile) keeps the exec bit on bin/kc.sh
            run_checked(
                ["tar", "-xzf", str(tarball), "-C", str(self.tool_dir)],
                "unpack Keycloak",
                f"check free disk space under {self.tool_dir}",
                log_path=self.log_file,
            )
            shutil.rmtree(download)  # Maven's local repository keeps a copy
            tools.mark_installed(self.tool_dir)

    def launch(self) -> Launch:
        s = self.settings
        h2 = self.data_path / "h2" / "keycloakdb"
        env = {
            **os.environ,
            "JAVA_HOME": str(self.java_home()),
            # Only used when the master realm has no admin yet (first start on a fresh data dir).
            "KC_BOOTSTRAP_ADMIN_USERNAME": s.keycloak_admin_user,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": s.keycloak_admin_password,
            # Narayana's transaction log defaults to <keycloak home>/data, i.e. the shared cache;
            # keep it with the rest of this platform's data.
            "JAVA_OPTS_APPEND": "-Dquarkus.transaction-manager.object-store.directory="
            f"{self.data_path / 'transaction-logs'}",
        }
        return Launch(
            cmd=[
                str(self.home / "bin" / "kc.sh"),
                "start-dev",
                f"--http-host={s.host}",
                f"--http-port={s.keycloak_port}",
                "--db=dev-file",
                f"--db-url=jdbc:h2:file:{h2};NON_KEYWORDS=VALUE",
            ],
            env=env,
            cwd=self.data_path,
        )

    def prepare(self) -> None:
        self.data_path.mkdir(parents=True, exist_ok=True)

    def is_ready(self) -> bool:
        return http_status(f"{self.url}/realms/master/.well-known/openid-configuration") == 200

    def endpoint(self) -> BaseModel:
        return KeycloakEndpoint(
            url=self.url,
            admin_user=self.settings.keycloak_admin_user,
            admin_password=self.settings.keycloak_admin_password,
        )
