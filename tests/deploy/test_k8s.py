"""The Kubernetes manifests: valid against the Kubernetes schemas, and in line with the code.

Every file in ``deploy/k8s/base`` and every rendered overlay is validated strictly (unknown fields
are errors) with kubernetes-validate's bundled schemas; the overlays are rendered by the small
kustomize-compatible renderer in ``tests/deploy/kustomize.py``.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.kustomize import load_documents, render, strategic_merge
from workers.registry import worker_modules

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ["dev", "production"]
KUBERNETES_VERSION = "1.30.0"
PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def known_environment_names() -> set[str]:
    sys.path.insert(0, str(ROOT / "docs" / "hooks"))
    try:
        import reference
    finally:
        sys.path.remove(str(ROOT / "docs" / "hooks"))
    return {row.env_name for row in reference.settings()}


def by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {resource["metadata"]["name"]: resource for resource in resources if resource["kind"] == kind}


def containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return list(resource["spec"]["template"]["spec"]["containers"])


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {overlay: render(K8S / "overlays" / overlay) for overlay in OVERLAYS}


@pytest.mark.parametrize("path", sorted((K8S / "base").glob("*.yaml")), ids=lambda path: path.name)
def test_every_base_manifest_validates_against_the_kubernetes_schema(path: Path) -> None:
    if path.name == "kustomization.yaml":
        assert load_documents(path)[0]["kind"] == "Kustomization"
        return
    for document in load_documents(path):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_overlay_resource_validates(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    assert len(rendered[overlay]) > 20
    for resource in rendered[overlay]:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_schema_validation_catches_a_misspelt_field() -> None:
    deployment = load_documents(K8S / "base" / "dashboard.yaml")[0]
    broken = strategic_merge(deployment, {"spec": {"replica": 1}})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_worker_has_one_deployment_running_it_with_its_own_probe(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for overlay, resources in rendered.items():
        deployments = by_kind(resources, "Deployment")
        worker_deployments = {name for name in deployments if name != "konsens-dashboard"}
        assert worker_deployments == {f"konsens-{name}" for name in worker_modules()}, overlay
        for name in worker_modules():
            (container,) = containers(deployments[f"konsens-{name}"])
            assert container["command"] == ["konsens", "worker", name]
            for probe in ("startupProbe", "livenessProbe"):
                command = container[probe]["exec"]["command"]
                assert command[:5] == ["python", "-m", "app.probe", "worker", name], (overlay, name, probe)


def test_executor_and_sync_run_as_one_replica_that_is_replaced_not_rolled(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for resources in rendered.values():
        deployments = by_kind(resources, "Deployment")
        for name in ("konsens-executor", "konsens-sync"):
            assert deployments[name]["spec"]["replicas"] == 1
            assert deployments[name]["spec"]["strategy"] == {"type": "Recreate"}
        autoscaled = {
            hpa["spec"]["scaleTargetRef"]["name"] for hpa in by_kind(resources, "HorizontalPodAutoscaler").values()
        }
        assert autoscaled == {"konsens-analyst", "konsens-news"}
        assert not autoscaled & {"konsens-executor", "konsens-sync"}


def test_images_are_the_overlays_and_production_runs_the_project_version(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    expected = {"dev": "konsens:dev", "production": f"ghcr.io/konsens/konsens:{PROJECT_VERSION}"}
    for overlay, resources in rendered.items():
        for deployment in by_kind(resources, "Deployment").values():
            for container in containers(deployment):
                assert container["image"] == expected[overlay], (overlay, deployment["metadata"]["name"])


def test_settings_and_secrets_use_only_names_the_code_reads(rendered: dict[str, list[dict[str, Any]]]) -> None:
    known = known_environment_names()
    assert {"KONSENS_DATABASE_URL", "KONSENS_SECRET_KEY", "KONSENS_HOME"} <= known
    for overlay, resources in rendered.items():
        config = by_kind(resources, "ConfigMap")["konsens-config"]["data"]
        secret = by_kind(resources, "Secret")["konsens-secrets"]["stringData"]
        unknown = {key for key in [*config, *secret] if key.startswith("KONSENS_") and key not in known}
        assert not unknown, f"{overlay}: settings the code does not read: {sorted(unknown)}"
        assert {key for key in secret if not key.startswith("KONSENS_")} == {"POSTGRES_PASSWORD"}
        assert config["KONSENS_HOME"] == "/data"
        assert "KONSENS_DATABASE_URL" not in config and "KONSENS_SECRET_KEY" not in config


def test_every_reference_from_a_pod_points_at_an_existing_object(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for overlay, resources in rendered.items():
        config_maps, secrets = by_kind(resources, "ConfigMap"), by_kind(resources, "Secret")
        claims, accounts = by_kind(resources, "PersistentVolumeClaim"), by_kind(resources, "ServiceAccount")
        services = by_kind(resources, "Service")
        pods = [*by_kind(resources, "Deployment").values(), *by_kind(resources, "StatefulSet").values()]
        for workload in pods:
            spec = workload["spec"]["template"]["spec"]
            assert spec["serviceAccountName"] in accounts
            assert spec["automountServiceAccountToken"] is False
            assert spec["securityContext"]["runAsNonRoot"] is True
            for volume in spec.get("volumes", []):
                if "persistentVolumeClaim" in volume:
                    assert volume["persistentVolumeClaim"]["claimName"] in claims
            for container in spec["containers"]:
                assert container["securityContext"]["allowPrivilegeEscalation"] is False
                assert {"cpu", "memory"} <= set(container["resources"]["requests"]), workload["metadata"]["name"]
                assert "memory" in container["resources"]["limits"]
                for source in container.get("envFrom", []):
                    if "configMapRef" in source:
                        assert source["configMapRef"]["name"] in config_maps
                    if "secretRef" in source:
                        assert source["secretRef"]["name"] in secrets
                for variable in container.get("env", []):
                    reference = variable.get("valueFrom", {}).get("secretKeyRef")
                    if reference:
                        assert reference["key"] in secrets[reference["name"]]["stringData"], overlay
        ingress = by_kind(resources, "Ingress")["konsens-dashboard"]
        backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        assert backend["name"] in services
        assert "cert-manager.io/cluster-issuer" in ingress["metadata"]["annotations"]
        assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]
        for resource in resources:
            if resource["kind"] != "Namespace":
                assert resource["metadata"]["namespace"] == "konsens", resource["metadata"]["name"]


def test_the_database_url_names_the_in_cluster_database_service(rendered: dict[str, list[dict[str, Any]]]) -> None:
    from sqlalchemy.engine import make_url

    for resources in rendered.values():
        url = make_url(by_kind(resources, "Secret")["konsens-secrets"]["stringData"]["KONSENS_DATABASE_URL"])
        database = by_kind(resources, "StatefulSet")["konsens-db"]
        assert url.host in by_kind(resources, "Service")
        assert url.host == database["spec"]["serviceName"]
        assert url.port == 5432
        env = {item["name"]: item for item in containers(database)[0]["env"]}
        assert url.username == env["POSTGRES_USER"]["value"]
        assert url.database == env["POSTGRES_DB"]["value"]


def test_dashboard_probes_the_streamlit_health_endpoint_on_its_port(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for resources in rendered.values():
        (container,) = containers(by_kind(resources, "Deployment")["konsens-dashboard"])
        assert container["command"][:3] == ["python", "-m", "app.server"]
        assert "--server.port=8501" in container["command"]
        assert container["ports"] == [{"name": "http", "containerPort": 8501}]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/_stcore/health", "port": "http"}


def test_network_policies_select_pods_that_exist(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for resources in rendered.values():
        pod_labels = [
            workload["spec"]["template"]["metadata"]["labels"]
            for kind in ("Deployment", "StatefulSet")
            for workload in by_kind(resources, kind).values()
        ]
        for policy in by_kind(resources, "NetworkPolicy").values():
            selector = policy["spec"]["podSelector"].get("matchLabels", {})
            assert any(selector.items() <= labels.items() for labels in pod_labels), policy["metadata"]["name"]
            for rule in policy["spec"].get("ingress", []):
                for peer in rule["from"]:
                    if "podSelector" in peer:
                        wanted = peer["podSelector"]["matchLabels"].items()
                        clients = [labels for labels in pod_labels if wanted <= labels.items()]
                        assert len(clients) == len(pod_labels) - 1  # every Konsens pod but the database
        for budget in by_kind(resources, "PodDisruptionBudget").values():
            wanted = budget["spec"]["selector"]["matchLabels"].items()
            assert any(wanted <= labels.items() for labels in pod_labels)


def test_rbac_grants_nothing(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for resources in rendered.values():
        assert by_kind(resources, "Role")["konsens"]["rules"] == []
        binding = by_kind(resources, "RoleBinding")["konsens"]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "konsens", "namespace": "konsens"}]
        assert not by_kind(resources, "ClusterRoleBinding")


def test_deleting_the_placeholder_secret_leaves_a_valid_production_set(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    production = K8S / "overlays" / "production"
    (overlay / "patches.yaml").write_text((production / "patches.yaml").read_text())
    (overlay / "delete.yaml").write_text((production / "delete-placeholder-secret.yaml").read_text())
    (overlay / "kustomization.yaml").write_text(
        f"resources: ['{K8S / 'base'}']\npatches:\n  - path: patches.yaml\n  - path: delete.yaml\n"
    )
    resources = render(overlay)
    assert "konsens-secrets" not in by_kind(resources, "Secret")


def test_renderer_refuses_kustomization_fields_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nreplicas:\n  - name: x\n    count: 2\n")
    with pytest.raises(ValueError, match="does not implement"):
        render(tmp_path)
