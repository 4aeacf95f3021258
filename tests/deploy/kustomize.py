"""A small kustomize-compatible renderer for the tests (``kustomize`` itself cannot be installed here).

It implements the subset of kustomize that ``deploy/k8s`` uses, with kustomize's semantics:
``resources`` (files and directories holding a ``kustomization.yaml``), ``namespace``, ``labels``
(``pairs``, without selectors), ``images`` (``newName``/``newTag`` for a container image name) and
``patches`` (strategic-merge patch files: maps merge, lists of maps with a ``name`` merge by name,
other lists are replaced, ``$patch: delete`` removes the resource). Anything else in a
kustomization is refused, so a manifest that needs more fails loudly instead of rendering wrong.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_FIELDS = {"apiVersion", "kind", "namespace", "labels", "resources", "images", "patches"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}


def load_documents(path: Path) -> list[dict[str, Any]]:
    """Return the non-empty YAML documents of ``path``."""
    return [document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document]


def resource_key(resource: dict[str, Any]) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def strategic_merge(base: Any, patch: Any) -> Any:
    """Merge ``patch`` into ``base`` the way a strategic-merge patch does for the fields used here."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = strategic_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(item, dict) and "name" in item for item in [*base, *patch])
    ):
        merged_list = [copy.deepcopy(item) for item in base]
        for item in patch:
            for index, existing in enumerate(merged_list):
                if existing["name"] == item["name"]:
                    merged_list[index] = strategic_merge(existing, item)
                    break
            else:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(patch)


def _set_images(node: Any, images: list[dict[str, str]]) -> None:
    if isinstance(node, dict):
        for container_key in ("containers", "initContainers"):
            for container in node.get(container_key, []) or []:
                name, _, tag = str(container.get("image", "")).partition(":")
                for image in images:
                    if image["name"] == name:
                        container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag or 'latest')}"
        for value in node.values():
            _set_images(value, images)
    elif isinstance(node, list):
        for value in node:
            _set_images(value, images)


def render(directory: Path) -> list[dict[str, Any]]:
    """Render the kustomization in ``directory`` into its list of resources."""
    kustomization = load_documents(directory / "kustomization.yaml")[0]
    unsupported = set(kustomization) - SUPPORTED_FIELDS
    if unsupported:
        raise ValueError(f"{directory}: kustomization fields this renderer does not implement: {sorted(unsupported)}")
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        resources.extend(render(target) if target.is_dir() else load_documents(target))
    for patch_entry in kustomization.get("patches", []):
        for patch in load_documents(directory / patch_entry["path"]):
            key = resource_key(patch)
            matches = [index for index, resource in enumerate(resources) if resource_key(resource) == key]
            if len(matches) != 1:
                raise ValueError(f"{directory}: patch for {key} matches {len(matches)} resources")
            if patch.get("$patch") == "delete":
                del resources[matches[0]]
            else:
                resources[matches[0]] = strategic_merge(resources[matches[0]], patch)
    for resource in resources:
        metadata = resource.setdefault("metadata", {})
        if kustomization.get("namespace") and resource["kind"] not in CLUSTER_SCOPED:
            metadata["namespace"] = kustomization["namespace"]
        for label_set in kustomization.get("labels", []):
            metadata.setdefault("labels", {}).update(label_set.get("pairs", {}))
        _set_images(resource, kustomization.get("images", []))
    return resources
