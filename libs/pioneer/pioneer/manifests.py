"""Kubernetes manifests for every built service, derived from the code (``pioneer manifests``,
``make manifests``; a test checks the checked-in ``deploy/k8s`` is current and valid).

Each service is a Deployment of ``REPLICAS`` pods on the same queues and database (every timer
and the relay are safe with several: ``docs/replicas.md``), a Service for its HTTP port
(``/metrics``, ``/health``), a PodDisruptionBudget and a HorizontalPodAutoscaler on CPU. The
broker (a RabbitMQ cluster with quorum queues) and PostgreSQL are the cluster's own, run by
their operators; the manifests take their URIs, like every secret, from Secrets the operator
creates (``deploy/README.md``). ``rabbitmq.yaml`` (a ``RabbitmqCluster`` of three nodes with
the definitions) and ``postgres.yaml`` (a CloudNativePG ``Cluster`` with a role and database per
service) are for a cluster that runs those operators; with a managed broker or database, leave
them out of ``kustomization.yaml`` and point the Secrets' URIs at it.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from .registry import built_services, default_port

NAMESPACE = "pioneer"
KUBERNETES_VERSION = "1.31.0"  # the API the manifests are validated against
REPLICAS = 2
MAX_REPLICAS = 4
IMAGE = "pioneer/{service}:latest"  # kustomization.yaml's ``images`` pins the real tags
# Each pod's database pool: at most four pods of five services at twice this is 160
# connections, so the server's max_connections is 200 or PgBouncer stands in front.
DB_POOL_SIZE = 4
UID = 10001  # deploy/Dockerfile's user


def _labels(service: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": service, "app.kubernetes.io/part-of": "pioneer"}


def _secret(name: str, key: str) -> dict[str, Any]:
    return {"name": key, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}


def _setting(key: str) -> dict[str, Any]:
    return {"name": key, "valueFrom": {"configMapKeyRef": {"name": "pioneer", "key": key}}}


def deployment(service: str) -> dict[str, Any]:
    """The service's Deployment: ``REPLICAS`` pods, rolled one at a time, each healthy before
    it takes traffic, stopped with SIGTERM and time to drain."""
    port = default_port(service)
    probe = {"httpGet": {"path": "/health", "port": "http"}, "timeoutSeconds": 3}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": service, "namespace": NAMESPACE, "labels": _labels(service)},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": _labels(service)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": _labels(service),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(port),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    # In-flight workers finish and the outbox relay drains after SIGTERM.
                    "terminationGracePeriodSeconds": 40,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": service,
                            "image": IMAGE.format(service=service),
                            "ports": [{"name": "http", "containerPort": port}],
                            "env": [
                                _setting("DEPLOYMENT"),
                                _setting("CITIES"),
                                _setting("LOG_LEVEL"),
                                _setting("MAX_WORKERS"),
                                {"name": "DB_POOL_SIZE", "value": str(DB_POOL_SIZE)},
                                {"name": "WEB_SERVER_ADDRESS", "value": f"0.0.0.0:{port}"},
                                _secret("pioneer-jwt", "JWT_SECRET"),
                                _secret(f"pioneer-{service}", "AMQP_URI"),
                                _secret(f"pioneer-{service}", "DATABASE_URL"),
                            ],
                            "startupProbe": {**probe, "periodSeconds": 5, "failureThreshold": 24},
                            "readinessProbe": {**probe, "periodSeconds": 10},
                            "livenessProbe": {**probe, "periodSeconds": 20, "failureThreshold": 6},
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "256Mi"},
                                "limits": {"memory": "512Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {"name": "var", "mountPath": "/app/var"},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [{"name": "var", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def service_port(service: str) -> dict[str, Any]:
    """The Service in front of the pods' HTTP port (Prometheus, health checks)."""
    port = default_port(service)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service, "namespace": NAMESPACE, "labels": _labels(service)},
        "spec": {
            "selector": _labels(service),
            "ports": [{"name": "http", "port": port, "targetPort": "http"}],
        },
    }


def disruption_budget(service: str) -> dict[str, Any]:
    """At most one pod of the service down at a time for a node drain."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": service, "namespace": NAMESPACE, "labels": _labels(service)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _labels(service)}},
    }


def autoscaler(service: str) -> dict[str, Any]:
    """More pods while the service's CPU runs hot, between ``REPLICAS`` and ``MAX_REPLICAS``
    (each pod's pool counted in: ``docs/replicas.md``)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": service, "namespace": NAMESPACE, "labels": _labels(service)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": service},
            "minReplicas": REPLICAS,
            "maxReplicas": MAX_REPLICAS,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


def broker() -> list[dict[str, Any]]:
    """A RabbitMQ cluster of three nodes (the RabbitMQ Cluster Operator's ``RabbitmqCluster``)
    with the platform's definitions loaded at boot, as ``docker-compose.yml`` runs one node:
    the topology and the users without passwords, then ``set-passwords.sh`` from the
    ``pioneer-rabbitmq-passwords`` Secret once the node is up."""
    from .definitions import broker_definitions
    from .registry import home

    scripts = home() / "deploy" / "rabbitmq"
    definitions = broker_definitions(built_services())
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "pioneer-rabbitmq", "namespace": NAMESPACE},
            "data": {
                "definitions.json": json.dumps(definitions, indent=2, ensure_ascii=False),
                "set-passwords.sh": (scripts / "set-passwords.sh").read_text(),
            },
        },
        {
            "apiVersion": "rabbitmq.com/v1beta1",
            "kind": "RabbitmqCluster",
            "metadata": {"name": "rabbitmq", "namespace": NAMESPACE},
            "spec": {
                "replicas": 3,
                "image": "rabbitmq:3.12-management",
                "resources": {
                    "requests": {"cpu": "500m", "memory": "1Gi"},
                    "limits": {"memory": "2Gi"},
                },
                "persistence": {"storage": "20Gi"},
                "rabbitmq": {
                    "additionalPlugins": ["rabbitmq_federation", "rabbitmq_federation_management"],
                    "additionalConfig": (
                        "definitions.import_backend = local_filesystem\n"
                        "definitions.local.path = /etc/pioneer/definitions.json\n"
                        "consumer_timeout = 1800000\n"
                    ),
                },
                "override": {
                    "statefulSet": {
                        "spec": {
                            "template": {
                                "spec": {
                                    "containers": [
                                        {
                                            "name": "rabbitmq",
                                            "envFrom": [
                                                {
                                                    "secretRef": {
                                                        "name": "pioneer-rabbitmq-passwords"
                                                    }
                                                }
                                            ],
                                            "volumeMounts": [
                                                {"name": "pioneer", "mountPath": "/etc/pioneer"}
                                            ],
                                            "lifecycle": {
                                                "postStart": {
                                                    "exec": {
                                                        "command": [
                                                            "sh",
                                                            "-c",
                                                            "until rabbitmqctl -q await_startup"
                                                            " --timeout 60; do sleep 2; done;"
                                                            " sh /etc/pioneer/set-passwords.sh",
                                                        ]
                                                    }
                                                }
                                            },
                                        }
                                    ],
                                    "volumes": [
                                        {
                                            "name": "pioneer",
                                            "configMap": {"name": "pioneer-rabbitmq"},
                                        }
                                    ],
                                }
                            }
                        }
                    }
                },
            },
        },
    ]


def database() -> list[dict[str, Any]]:
    """A PostgreSQL cluster of three instances (CloudNativePG's ``Cluster``), with a role and a
    database per service, each role's password from its ``pioneer-db-<service>`` Secret (as
    ``deploy/postgres/init.sql`` makes them in compose). Room for every pod at its worst:
    ``MAX_REPLICAS`` pods of each service at twice ``DB_POOL_SIZE``."""
    services = built_services()
    connections = len(services) * MAX_REPLICAS * 2 * DB_POOL_SIZE + 40  # + ops, the operator
    cluster = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "postgres", "namespace": NAMESPACE},
        "spec": {
            "instances": 3,
            "imageName": "ghcr.io/cloudnative-pg/postgresql:15",
            "storage": {"size": "50Gi"},
            "postgresql": {
                "parameters": {"max_connections": str(connections)},
                "shared_preload_libraries": ["pg_stat_statements"],
            },
            "managed": {
                "roles": [
                    {
                        "name": service,
                        "ensure": "present",
                        "login": True,
                        "passwordSecret": {"name": f"pioneer-db-{service}"},
                    }
                    for service in services
                ]
            },
        },
    }
    owned = [
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Database",
            "metadata": {"name": service, "namespace": NAMESPACE},
            "spec": {
                "name": service,
                "owner": service,
                "cluster": {"name": "postgres"},
                "ensure": "present",
            },
        }
        for service in services
    ]
    return [cluster, *owned]


def common() -> list[dict[str, Any]]:
    """The namespace and the settings every service shares."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "pioneer", "namespace": NAMESPACE},
            "data": {
                "DEPLOYMENT": "shared",
                "CITIES": "cixi,haining,jiaxing",
                "LOG_LEVEL": "INFO",
                "MAX_WORKERS": "10",
            },
        },
    ]


def manifests() -> dict[str, list[dict[str, Any]]]:
    """File name -> the documents it holds: ``pioneer.yaml`` and one file per built service."""
    files = {"pioneer.yaml": common(), "rabbitmq.yaml": broker(), "postgres.yaml": database()}
    for service in built_services():
        files[f"{service}.yaml"] = [
            deployment(service),
            service_port(service),
            disruption_budget(service),
            autoscaler(service),
        ]
    return files


def kustomization() -> dict[str, Any]:
    """``kubectl apply -k deploy/k8s``: every file, and the images to pin."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(manifests()),
        "images": [
            {"name": IMAGE.format(service=s).split(":")[0], "newTag": "latest"}
            for s in built_services()
        ],
    }


def render(documents: list[dict[str, Any]]) -> str:
    """The documents as one YAML file, in the order written, with a header saying so."""
    header = "# Generated by `pioneer manifests` (make manifests) from the code; do not edit.\n"
    return header + yaml.safe_dump_all(documents, sort_keys=False, allow_unicode=True)
