# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""GitLab Runner's config.toml keys, shipped as the collection's own data.

RUNNER_CONFIG_KEYS is generated from the runner's ``common/config.go`` and
friends (see its ``_source`` entry): one entry per section, mapping each key
to its Go type; ``_version_diffs`` lists the keys added or removed between
runner releases. The runner silently ignores keys it does not know, so a typo
is a setting that never takes effect: unknown_keys() finds them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import MASK, mask_url_userinfo

RUNNER_CONFIG_KEYS = {
    '_source': {
        'repo': 'gitlabhq/gitlab-runner (GitHub mirror of gitlab.com/gitlab-org/gitlab-runner)',
        'commit': 'd79f3e7b89abceace75e2425bfe92b84ea059933 (VERSION file: 19.4.0)',
        'files': [
            'common/config.go',
            'cache/cacheconfig/cacheconfig.go',
            'helpers/docker/credentials.go',
            'helpers/featureflags/flags.go',
        ],
        'toml_library': (
            'github.com/BurntSushi/toml v1.6.0 (go.mod); key = toml struct tag name; fields without a '
            'toml tag use the Go field name (DockerMachine IdleCount etc.); toml:"-" fields omitted'
        ),
        'notes': [
            (
                'Types are Go types as declared. time.Duration fields are written in TOML as duration '
                'strings (e.g. "30m"); time.Time as TOML datetime.'
            ),
            (
                "'runners' includes keys from embedded RunnerCredentials and RunnerSettings (Go embedding "
                'flattens them into [[runners]]).'
            ),
            "'runners.docker' includes host/tls_cert_path/tls_verify from embedded helpers/docker.Credentials.",
            (
                '[runners.feature_flags] is map[string]bool; the known flag names and defaults below come '
                'from helpers/featureflags/flags.go.'
            ),
            '[runners.kubernetes]: top-level keys only.',
            'pre_clone_script/post_clone_script are NOT keys anymore (removed in v17.0.0, commit 668f609f7).',
        ],
    },
    'global': {
        'listen_address': 'string',
        'session_server': 'SessionServer',
        'labels': 'Labels',
        'concurrent': 'int',
        'check_interval': 'int',
        'log_level': '*string',
        'log_format': '*string',
        'user': 'string',
        'runners': '[]*RunnerConfig',
        'sentry_dsn': '*string',
        'connection_max_age': '*time.Duration',
        'machine': '*MachineConfig',
        'experimental': '*Experimental',
        'shutdown_timeout': 'int',
    },
    'session_server': {
        'listen_address': 'string',
        'advertise_address': 'string',
        'session_timeout': 'int',
    },
    'runners': {
        'name': 'string',
        'limit': 'int',
        'output_limit': 'int',
        'request_concurrency': 'int',
        'strict_check_interval': '*bool',
        'unhealthy_requests_limit': 'int',
        'unhealthy_interval': '*time.Duration',
        'job_status_final_update_retry_limit': 'int',
        'experimental': '*RunnerExperimental',
        'url': 'string',
        'id': 'int64',
        'token': 'string',
        'token_obtained_at': 'time.Time',
        'token_expires_at': 'time.Time',
        'tls-ca-file': 'string',
        'tls-cert-file': 'string',
        'tls-key-file': 'string',
        'labels': 'Labels',
        'executor': 'string',
        'builds_dir': 'string',
        'cache_dir': 'string',
        'clone_url': 'string',
        'environment': '[]string',
        'proxy_exec': '*bool',
        'pre_get_sources_script': 'string',
        'post_get_sources_script': 'string',
        'pre_build_script': 'string',
        'post_build_script': 'string',
        'prepare_timeout': '*time.Duration',
        'get_sources_timeout': '*time.Duration',
        'debug_trace_disabled': 'bool',
        'safe_directory_checkout': '*bool',
        'clean_git_config': '*bool',
        'shell': 'string',
        'custom_build_dir': 'CustomBuildDir',
        'referees': '*referees.Config',
        'cache': '*cacheconfig.Config',
        'artifact': 'ArtifactConfig',
        'feature_flags': 'map[string]bool',
        'monitoring': '*runner.Monitoring',
        'use_slot_cgroups': 'bool',
        'slot_cgroup_template': 'string',
        'instance': '*InstanceConfig',
        'ssh': '*SshConfig',
        'docker': '*DockerConfig',
        'parallels': '*ParallelsConfig',
        'virtualbox': '*VirtualBoxConfig',
        'machine': '*DockerMachine',
        'kubernetes': '*KubernetesConfig',
        'custom': '*CustomConfig',
        'autoscaler': '*AutoscalerConfig',
        'step_runner_image': 'string',
    },
    'runners.custom_build_dir': {
        'enabled': '*bool',
    },
    'runners.docker': {
        'host': 'string',
        'tls_cert_path': 'string',
        'tls_verify': 'bool',
        'hostname': 'string',
        'image': 'string',
        'runtime': 'string',
        'memory': 'string',
        'memory_swap': 'string',
        'memory_reservation': 'string',
        'cgroup_parent': 'string',
        'cpuset_cpus': 'string',
        'cpuset_mems': 'string',
        'cpus': 'string',
        'cpu_shares': 'int64',
        'dns': '[]string',
        'dns_search': '[]string',
        'privileged': 'bool',
        'services_privileged': '*bool',
        'disable_entrypoint_overwrite': 'bool',
        'user': 'string',
        'allowed_users': '[]string',
        'group_add': '[]string',
        'userns_mode': 'string',
        'cap_add': '[]string',
        'cap_drop': '[]string',
        'oom_kill_disable': 'bool',
        'oom_score_adjust': 'int',
        'security_opt': '[]string',
        'services_security_opt': '[]string',
        'devices': '[]string',
        'device_cgroup_rules': '[]string',
        'gpus': 'string',
        'services_devices': 'map[string][]string',
        'disable_cache': 'bool',
        'volumes': '[]string',
        'volume_keep': 'bool',
        'volume_driver': 'string',
        'volume_driver_ops': 'map[string]string',
        'cache_dir': 'string',
        'extra_hosts': '[]string',
        'volumes_from': '[]string',
        'network_mode': 'string',
        'pid_mode': 'string',
        'ipcmode': 'string',
        'mac_address': 'string',
        'links': '[]string',
        'services': '[]Service',
        'services_limit': '*int',
        'service_memory': 'string',
        'service_memory_swap': 'string',
        'service_memory_reservation': 'string',
        'service_cgroup_parent': 'string',
        'service_slot_cgroup_template': 'string',
        'service_cpuset_cpus': 'string',
        'service_cpus': 'string',
        'service_cpu_shares': 'int64',
        'service_gpus': 'string',
        'wait_for_services_timeout': 'int',
        'allowed_images': '[]string',
        'allowed_privileged_images': '[]string',
        'allowed_privileged_services': '[]string',
        'allowed_pull_policies': '[]DockerPullPolicy',
        'allowed_services': '[]string',
        'pull_policy': 'StringOrArray',
        'isolation': 'string',
        'shm_size': 'int64',
        'tmpfs': 'map[string]string',
        'services_tmpfs': 'map[string]string',
        'sysctls': 'DockerSysCtls',
        'helper_image': 'string',
        'helper_image_flavor': 'string',
        'container_labels': 'map[string]string',
        'enable_ipv6': 'bool',
        'ulimit': 'map[string]string',
        'network_mtu': 'int',
        'log_options': 'map[string]string',
    },
    'runners.docker.services': {
        'name': 'string',
        'alias': 'string',
        'command': '[]string',
        'entrypoint': '[]string',
        'environment': '[]string',
        'suspend_data_path': 'string',
    },
    'runners.cache': {
        'Type': 'string',
        'Path': 'string',
        'Shared': 'bool',
        'MaxUploadedArchiveSize': 'int64',
        's3': '*CacheS3Config',
        'gcs': '*CacheGCSConfig',
        'azure': '*CacheAzureConfig',
    },
    'runners.cache.s3': {
        'ServerAddress': 'string',
        'AccessKey': 'string',
        'SecretKey': 'string',
        'SessionToken': 'string',
        'BucketName': 'string',
        'BucketLocation': 'string',
        'Insecure': 'bool',
        'AuthenticationType': 'S3AuthType',
        'ServerSideEncryption': 'string',
        'ServerSideEncryptionKeyID': 'string',
        'DualStack': '*bool',
        'PathStyle': '*bool',
        'Accelerate': 'bool',
        'RoleARN': 'string',
        'UploadRoleARN': 'string',
        'AssumeRoleMaxConcurrency': 'int',
        'DisableAssumeRoleCredentialsCaching': 'bool',
    },
    'runners.cache.gcs': {
        'AccessID': 'string',
        'PrivateKey': 'string',
        'CredentialsFile': 'string',
        'BucketName': 'string',
        'UniverseDomain': 'string',
    },
    'runners.cache.azure': {
        'AccountName': 'string',
        'AccountKey': 'string',
        'ContainerName': 'string',
        'StorageDomain': 'string',
    },
    'runners.autoscaler': {
        'capacity_per_instance': 'int',
        'max_use_count': 'int',
        'max_instances': 'int',
        'plugin': 'string',
        'plugin_config': 'AutoscalerSettingsMap',
        'connector_config': 'ConnectorConfig',
        'policy': '[]AutoscalerPolicyConfig',
        'instance_ready_command': 'string',
        'instance_acquire_timeout': 'time.Duration',
        'update_interval': 'time.Duration',
        'update_interval_when_expecting': 'time.Duration',
        'deletion_retry_interval': 'time.Duration',
        'shutdown_deletion_interval': 'time.Duration',
        'shutdown_deletion_retries': 'int',
        'failure_threshold': 'int',
        'scale_throttle': 'AutoscalerScaleThrottle',
        'reservation_throttling': '*bool',
        'log_internal_ip': 'bool',
        'log_external_ip': 'bool',
        'delete_instances_on_shutdown': 'bool',
        'vm_isolation': 'VMIsolation',
        'state_storage': 'AutoscalerStateStorage',
        'instance_operation_time_buckets': '[]float64',
        'instance_creation_time_buckets': '[]float64',
        'instance_is_running_time_buckets': '[]float64',
        'instance_deletion_time_buckets': '[]float64',
        'instance_readiness_time_buckets': '[]float64',
        'instance_life_duration_buckets': '[]float64',
    },
    'runners.autoscaler.policy': {
        'periods': '[]string',
        'timezone': 'string',
        'idle_count': 'int',
        'idle_time': 'time.Duration',
        'scale_factor': 'float64',
        'scale_factor_limit': 'int',
        'preemptive_mode': '*bool',
    },
    'runners.autoscaler.connector_config': {
        'os': 'string',
        'arch': 'string',
        'protocol': 'string',
        'protocol_port': 'int',
        'username': 'string',
        'password': 'string',
        'key_path': 'string',
        'use_static_credentials': 'bool',
        'keepalive': 'time.Duration',
        'timeout': 'time.Duration',
        'use_external_addr': 'bool',
    },
    'runners.autoscaler.vm_isolation': {
        'enabled': 'bool',
        'nesting_host': 'string',
        'nesting_config': 'AutoscalerSettingsMap',
        'image': 'string',
        'connector_config': 'ConnectorConfig',
    },
    'runners.autoscaler.state_storage': {
        'enabled': 'bool',
        'dir': 'string',
        'keep_instance_with_acquisitions': 'bool',
    },
    'runners.autoscaler.scale_throttle': {
        'limit': 'int',
        'burst': 'int',
    },
    'runners.machine': {
        'MaxGrowthRate': 'int',
        'IdleCount': 'int',
        'IdleScaleFactor': 'float64',
        'IdleCountMin': 'int',
        'IdleTime': 'int',
        'MaxBuilds': 'int',
        'MachineDriver': 'string',
        'MachineName': 'string',
        'MachineOptions': '[]string',
        'MachineOptionsWithName': '[]string',
        'MaxRemovalAttempts': 'int',
        'OffPeakPeriods': '[]string',
        'OffPeakTimezone': 'string',
        'OffPeakIdleCount': 'int',
        'OffPeakIdleTime': 'int',
        'autoscaling': '[]*DockerMachineAutoscaling',
    },
    'runners.machine.autoscaling': {
        'Periods': '[]string',
        'Timezone': 'string',
        'IdleCount': 'int',
        'IdleScaleFactor': 'float64',
        'IdleCountMin': 'int',
        'IdleTime': 'int',
    },
    'runners.kubernetes': {
        'host': 'string',
        'context': 'string',
        'cert_file': 'string',
        'key_file': 'string',
        'ca_file': 'string',
        'bearer_token_overwrite_allowed': 'bool',
        'bearer_token': 'string',
        'image': 'string',
        'namespace': 'string',
        'namespace_overwrite_allowed': 'string',
        'namespace_per_job': 'bool',
        'privileged': '*bool',
        'runtime_class_name': '*string',
        'allow_privilege_escalation': '*bool',
        'cpu_limit': 'string',
        'cpu_limit_overwrite_max_allowed': 'string',
        'cpu_request': 'string',
        'cpu_request_overwrite_max_allowed': 'string',
        'memory_limit': 'string',
        'memory_limit_overwrite_max_allowed': 'string',
        'memory_request': 'string',
        'memory_request_overwrite_max_allowed': 'string',
        'ephemeral_storage_limit': 'string',
        'ephemeral_storage_limit_overwrite_max_allowed': 'string',
        'ephemeral_storage_request': 'string',
        'ephemeral_storage_request_overwrite_max_allowed': 'string',
        'service_cpu_limit': 'string',
        'service_cpu_limit_overwrite_max_allowed': 'string',
        'service_cpu_request': 'string',
        'service_cpu_request_overwrite_max_allowed': 'string',
        'service_memory_limit': 'string',
        'service_memory_limit_overwrite_max_allowed': 'string',
        'service_memory_request': 'string',
        'service_memory_request_overwrite_max_allowed': 'string',
        'service_ephemeral_storage_limit': 'string',
        'service_ephemeral_storage_limit_overwrite_max_allowed': 'string',
        'service_ephemeral_storage_request': 'string',
        'service_ephemeral_storage_request_overwrite_max_allowed': 'string',
        'helper_cpu_limit': 'string',
        'helper_cpu_limit_overwrite_max_allowed': 'string',
        'helper_cpu_request': 'string',
        'helper_cpu_request_overwrite_max_allowed': 'string',
        'helper_memory_limit': 'string',
        'helper_memory_limit_overwrite_max_allowed': 'string',
        'helper_memory_request': 'string',
        'helper_memory_request_overwrite_max_allowed': 'string',
        'helper_ephemeral_storage_limit': 'string',
        'helper_ephemeral_storage_limit_overwrite_max_allowed': 'string',
        'helper_ephemeral_storage_request': 'string',
        'helper_ephemeral_storage_request_overwrite_max_allowed': 'string',
        'pod_cpu_limit': 'string',
        'pod_cpu_limit_overwrite_max_allowed': 'string',
        'pod_cpu_request': 'string',
        'pod_cpu_request_overwrite_max_allowed': 'string',
        'pod_memory_limit': 'string',
        'pod_memory_limit_overwrite_max_allowed': 'string',
        'pod_memory_request': 'string',
        'pod_memory_request_overwrite_max_allowed': 'string',
        'allowed_images': '[]string',
        'allowed_pull_policies': '[]DockerPullPolicy',
        'allowed_services': '[]string',
        'allowed_users': '[]string',
        'allowed_groups': '[]string',
        'pull_policy': 'StringOrArray',
        'node_selector': 'map[string]string',
        'node_selector_overwrite_allowed': 'string',
        'node_tolerations': 'map[string]string',
        'node_tolerations_overwrite_allowed': 'string',
        'affinity': 'KubernetesAffinity',
        'image_pull_secrets': '[]string',
        'use_service_account_image_pull_secrets': 'bool',
        'helper_image': 'string',
        'helper_image_flavor': 'string',
        'helper_image_autoset_arch_and_os': 'bool',
        'pod_termination_grace_period_seconds': '*int64',
        'cleanup_grace_period_seconds': '*int64',
        'cleanup_resources_timeout': '*time.Duration',
        'poll_interval': 'int',
        'poll_timeout': 'int',
        'resource_availability_check_max_attempts': 'int',
        'retry_limit': 'RequestRetryLimit',
        'retry_backoff_max': 'RequestRetryBackoffMax',
        'retry_limits': 'RequestRetryLimits',
        'pod_labels': 'map[string]string',
        'pod_labels_overwrite_allowed': 'string',
        'scheduler_name': 'string',
        'service_account': 'string',
        'service_account_overwrite_allowed': 'string',
        'automount_service_account_token': '*bool',
        'pod_annotations': 'map[string]string',
        'pod_annotations_overwrite_allowed': 'string',
        'pod_security_context': 'KubernetesPodSecurityContext',
        'init_permissions_container_security_context': 'KubernetesContainerSecurityContext',
        'build_container_security_context': 'KubernetesContainerSecurityContext',
        'helper_container_security_context': 'KubernetesContainerSecurityContext',
        'service_container_security_context': 'KubernetesContainerSecurityContext',
        'volumes': 'KubernetesVolumes',
        'host_aliases': 'KubernetesHostAliasesFlag',
        'services': '[]Service',
        'cap_add': '[]string',
        'cap_drop': '[]string',
        'suspend_pvc_size': 'string',
        'suspend_pvc_storage_class': 'string',
        'dns_policy': 'KubernetesDNSPolicy',
        'dns_config': 'KubernetesDNSConfig',
        'container_lifecycle': 'KubernetesContainerLifecyle',
        'priority_class_name': 'string',
        'pod_spec': '[]KubernetesPodSpec',
        'logs_base_dir': 'string',
        'scripts_base_dir': 'string',
        'print_pod_warning_events': '*bool',
        'pod_disruption_budget': '*bool',
        'autoscaler': '*KubernetesAutoscalerConfig',
    },
    'runners.artifact': {
        'upload_timeout': '*time.Duration',
        'response_header_timeout': '*time.Duration',
    },
    'runners.instance': {
        'allowed_images': '[]string',
        'use_common_build_dir': 'bool',
    },
    'runners.experimental.boot_verify': {
        'enabled': 'bool',
        'timeout': 'time.Duration',
        'acquire_min_backoff': 'time.Duration',
        'acquire_max_backoff': 'time.Duration',
    },
    'machine (global)': {
        'shutdown_drain': '*DockerMachineShutdownDrain',
    },
    'machine.shutdown_drain (global)': {
        'enabled': 'bool',
        'concurrency': 'int',
        'max_retries': 'int',
        'retry_backoff': 'time.Duration',
    },
    'experimental (global)': {
        'usage_logger': 'UsageLogger',
    },
    'runners.feature_flags': {
        'FF_TEST_FEATURE': 'bool',
        'FF_NETWORK_PER_BUILD': 'bool',
        'FF_USE_LEGACY_KUBERNETES_EXECUTION_STRATEGY': 'bool',
        'FF_USE_DIRECT_DOWNLOAD': 'bool',
        'FF_USE_FASTZIP': 'bool',
        'FF_DISABLE_UMASK_FOR_DOCKER_EXECUTOR': 'bool',
        'FF_ENABLE_BASH_EXIT_CODE_CHECK': 'bool',
        'FF_USE_WINDOWS_LEGACY_PROCESS_STRATEGY': 'bool',
        'FF_USE_LEGACY_BASH_EVAL': 'bool',
        'FF_USE_POWERSHELL_PATH_RESOLVER': 'bool',
        'FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL': 'bool',
        'FF_SCRIPT_SECTIONS': 'bool',
        'FF_ENABLE_JOB_CLEANUP': 'bool',
        'FF_KUBERNETES_HONOR_ENTRYPOINT': 'bool',
        'FF_POSIXLY_CORRECT_ESCAPES': 'bool',
        'FF_RESOLVE_FULL_TLS_CHAIN': 'bool',
        'FF_DISABLE_POWERSHELL_STDIN': 'bool',
        'FF_USE_POD_ACTIVE_DEADLINE_SECONDS': 'bool',
        'FF_USE_ADVANCED_POD_SPEC_CONFIGURATION': 'bool',
        'FF_SECRET_RESOLVING_FAILS_IF_MISSING': 'bool',
        'FF_PRINT_POD_EVENTS': 'bool',
        'FF_USE_GIT_BUNDLE_URIS': 'bool',
        'FF_USE_GIT_NATIVE_CLONE': 'bool',
        'FF_USE_DUMB_INIT_WITH_KUBERNETES_EXECUTOR': 'bool',
        'FF_USE_INIT_WITH_DOCKER_EXECUTOR': 'bool',
        'FF_LOG_IMAGES_CONFIGURED_FOR_JOB': 'bool',
        'FF_USE_DOCKER_AUTOSCALER_DIAL_STDIO': 'bool',
        'FF_CLEAN_UP_FAILED_CACHE_EXTRACT': 'bool',
        'FF_USE_WINDOWS_JOB_OBJECT': 'bool',
        'FF_TIMESTAMPS': 'bool',
        'FF_DISABLE_AUTOMATIC_TOKEN_ROTATION': 'bool',
        'FF_USE_LEGACY_GCS_CACHE_ADAPTER': 'bool',
        'FF_DISABLE_UMASK_FOR_KUBERNETES_EXECUTOR': 'bool',
        'FF_USE_LEGACY_S3_CACHE_ADAPTER': 'bool',
        'FF_GIT_URLS_WITHOUT_TOKENS': 'bool',
        'FF_WAIT_FOR_POD_TO_BE_REACHABLE': 'bool',
        'FF_MASK_ALL_DEFAULT_TOKENS': 'bool',
        'FF_EXPORT_HIGH_CARDINALITY_METRICS': 'bool',
        'FF_USE_FLEETING_ACQUIRE_HEARTBEATS': 'bool',
        'FF_USE_EXPONENTIAL_BACKOFF_STAGE_RETRY': 'bool',
        'FF_USE_ADAPTIVE_REQUEST_CONCURRENCY': 'bool',
        'FF_USE_GITALY_CORRELATION_ID': 'bool',
        'FF_USE_GIT_PROACTIVE_AUTH': 'bool',
        'FF_HASH_CACHE_KEYS': 'bool',
        'FF_ENABLE_JOB_INPUTS_INTERPOLATION': 'bool',
        'FF_USE_JOB_ROUTER': 'bool',
        'FF_SCRIPT_TO_STEP_MIGRATION': 'bool',
        'FF_USE_PARALLEL_CACHE_TRANSFER': 'bool',
        'FF_USE_PARALLEL_ARTIFACT_TRANSFER': 'bool',
        'FF_CONCRETE': 'bool',
        'FF_SUSPENDABLE_ENVIRONMENTS': 'bool',
        'FF_USE_NATIVE_CONTAINER_STOP': 'bool',
    },
    'runners.feature_flags._defaults': {
        'FF_TEST_FEATURE': False,
        'FF_NETWORK_PER_BUILD': False,
        'FF_USE_LEGACY_KUBERNETES_EXECUTION_STRATEGY': False,
        'FF_USE_DIRECT_DOWNLOAD': True,
        'FF_USE_FASTZIP': True,
        'FF_DISABLE_UMASK_FOR_DOCKER_EXECUTOR': False,
        'FF_ENABLE_BASH_EXIT_CODE_CHECK': False,
        'FF_USE_WINDOWS_LEGACY_PROCESS_STRATEGY': False,
        'FF_USE_LEGACY_BASH_EVAL': False,
        'FF_USE_POWERSHELL_PATH_RESOLVER': False,
        'FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL': False,
        'FF_SCRIPT_SECTIONS': False,
        'FF_ENABLE_JOB_CLEANUP': False,
        'FF_KUBERNETES_HONOR_ENTRYPOINT': False,
        'FF_POSIXLY_CORRECT_ESCAPES': False,
        'FF_RESOLVE_FULL_TLS_CHAIN': False,
        'FF_DISABLE_POWERSHELL_STDIN': False,
        'FF_USE_POD_ACTIVE_DEADLINE_SECONDS': True,
        'FF_USE_ADVANCED_POD_SPEC_CONFIGURATION': False,
        'FF_SECRET_RESOLVING_FAILS_IF_MISSING': True,
        'FF_PRINT_POD_EVENTS': False,
        'FF_USE_GIT_BUNDLE_URIS': True,
        'FF_USE_GIT_NATIVE_CLONE': False,
        'FF_USE_DUMB_INIT_WITH_KUBERNETES_EXECUTOR': False,
        'FF_USE_INIT_WITH_DOCKER_EXECUTOR': False,
        'FF_LOG_IMAGES_CONFIGURED_FOR_JOB': False,
        'FF_USE_DOCKER_AUTOSCALER_DIAL_STDIO': True,
        'FF_CLEAN_UP_FAILED_CACHE_EXTRACT': False,
        'FF_USE_WINDOWS_JOB_OBJECT': False,
        'FF_TIMESTAMPS': True,
        'FF_DISABLE_AUTOMATIC_TOKEN_ROTATION': False,
        'FF_USE_LEGACY_GCS_CACHE_ADAPTER': False,
        'FF_DISABLE_UMASK_FOR_KUBERNETES_EXECUTOR': False,
        'FF_USE_LEGACY_S3_CACHE_ADAPTER': False,
        'FF_GIT_URLS_WITHOUT_TOKENS': False,
        'FF_WAIT_FOR_POD_TO_BE_REACHABLE': False,
        'FF_MASK_ALL_DEFAULT_TOKENS': True,
        'FF_EXPORT_HIGH_CARDINALITY_METRICS': False,
        'FF_USE_FLEETING_ACQUIRE_HEARTBEATS': False,
        'FF_USE_EXPONENTIAL_BACKOFF_STAGE_RETRY': True,
        'FF_USE_ADAPTIVE_REQUEST_CONCURRENCY': True,
        'FF_USE_GITALY_CORRELATION_ID': True,
        'FF_USE_GIT_PROACTIVE_AUTH': False,
        'FF_HASH_CACHE_KEYS': False,
        'FF_ENABLE_JOB_INPUTS_INTERPOLATION': True,
        'FF_USE_JOB_ROUTER': False,
        'FF_SCRIPT_TO_STEP_MIGRATION': False,
        'FF_USE_PARALLEL_CACHE_TRANSFER': False,
        'FF_USE_PARALLEL_ARTIFACT_TRANSFER': False,
        'FF_CONCRETE': False,
        'FF_SUSPENDABLE_ENVIRONMENTS': False,
        'FF_USE_NATIVE_CONTAINER_STOP': False,
    },
    'runners.feature_flags._deprecated': [
        'FF_TEST_FEATURE',
        'FF_USE_FASTZIP',
    ],
    '_version_diffs': {
        'v16.11.0->v17.0.0': {
            'runners': {
                'removed': [
                    'post_clone_script',
                    'pre_clone_script',
                ],
            },
            'runners.docker': {
                'added': [
                    'cpuset_mems',
                ],
            },
        },
        'v17.0.0->v18.0.0': {
            'global': {
                'added': [
                    'experimental',
                ],
            },
            'runners': {
                'added': [
                    'clean_git_config',
                    'job_status_final_update_retry_limit',
                    'proxy_exec',
                    'step_runner_image',
                ],
            },
            'runners.docker': {
                'added': [
                    'service_gpus',
                    'services_devices',
                ],
            },
        },
        'v18.0.0->19.4.0(HEAD)': {
            'global': {
                'added': [
                    'labels',
                    'machine',
                ],
            },
            'runners': {
                'added': [
                    'artifact',
                    'experimental',
                    'get_sources_timeout',
                    'labels',
                    'prepare_timeout',
                    'slot_cgroup_template',
                    'strict_check_interval',
                    'use_slot_cgroups',
                ],
            },
            'runners.docker': {
                'added': [
                    'log_options',
                    'pid_mode',
                    'service_slot_cgroup_template',
                    'volume_keep',
                ],
            },
            'runners.docker.services': {
                'added': [
                    'suspend_data_path',
                ],
            },
        },
        'services_history': (
            '[[runners.docker.services]] had only name/alias until v13.6.0 added command/entrypoint; '
            'environment added in v15.10.0 (checked per tag in common/config.go)'
        ),
    },
}

# Section names in RUNNER_CONFIG_KEYS that are not tables of config.toml.
_NOT_SECTIONS = frozenset(('_source', '_version_diffs'))
_ROOT = 'global'
_GLOBAL_SUFFIX = ' (global)'
_BARE_KEY = re.compile(r'^[A-Za-z0-9_-]+$')


def _is_section(name):
    return name not in _NOT_SECTIONS and not name.rsplit('.', 1)[-1].startswith('_')


def _base_type(go_type):
    return go_type.lstrip('*[]')


def _is_open_map(go_type):
    # Go maps (and the runner's named map types) accept any key.
    return go_type.lstrip('*[]').startswith('map[') or go_type.endswith('Map')


def _section_base(section):
    """Dotted TOML path of a section name: 'machine (global)' -> 'machine'."""
    if section == _ROOT:
        return ''
    if section.endswith(_GLOBAL_SUFFIX):
        return section[:-len(_GLOBAL_SUFFIX)]
    return section


def _types_to_sections(keys):
    """Map Go type names to the section that describes them.

    A struct type used in two places (the docker ``[]Service`` also in
    kubernetes, ``ConnectorConfig`` also in ``vm_isolation``) is described
    once, under its first path.
    """
    by_path = {}
    for section in keys:
        if _is_section(section):
            by_path[_section_base(section)] = section
    found = {}
    for section, fields in keys.items():
        if not _is_section(section):
            continue
        base = _section_base(section)
        for key, go_type in fields.items():
            child = by_path.get(base + '.' + key if base else key)
            if child is not None and not _is_open_map(go_type):
                found.setdefault(_base_type(go_type), child)
    return found


_SECTION_OF_TYPE = _types_to_sections(RUNNER_CONFIG_KEYS)


def child_section(section, key):
    """Name of the section that describes ``key`` of ``section``, or None.

    None means the key's value is open: a map (feature_flags, plugin_config,
    node_selector ...) or a structure the data does not describe (the
    kubernetes sub-tables), whose keys are not checked.
    """
    go_type = RUNNER_CONFIG_KEYS[section].get(key)
    if go_type is None or _is_open_map(go_type):
        return None
    base = _section_base(section)
    for candidate in (base + '.' + key if base else key,
                      (base + '.' + key if base else key) + _GLOBAL_SUFFIX):
        if candidate in RUNNER_CONFIG_KEYS and _is_section(candidate):
            return candidate
    return _SECTION_OF_TYPE.get(_base_type(go_type))


def _path_part(key):
    return key if _BARE_KEY.match(key) else '"%s"' % key.replace('\\', '\\\\').replace('"', '\\"')


def _walk_unknown(table, section, prefix):
    fields = RUNNER_CONFIG_KEYS[section]
    for key, value in table.items():
        path = prefix + '.' + _path_part(key) if prefix else _path_part(key)
        if key not in fields:
            yield path, section, key
            continue
        child = child_section(section, key)
        if child is None:
            continue
        if isinstance(value, Mapping):
            yield from _walk_unknown(value, child, path)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    yield from _walk_unknown(item, child, '%s[%d]' % (path, index))


def unknown_keys(document: Mapping) -> list[str]:
    """Dotted paths (with list indexes) of the keys the runner does not know.

    ``{'runners': [{'docker': {'imgae': 'x'}}]}`` gives
    ``['runners[0].docker.imgae']``. Keys of open maps are not reported.
    """
    return [path for path, dummy_section, dummy_key in _walk_unknown(document, _ROOT, '')]


def removed_in(section, key):
    """The runner release that removed ``key`` from ``section``, or None."""
    for step, changes in RUNNER_CONFIG_KEYS['_version_diffs'].items():
        if isinstance(changes, Mapping) and key in changes.get(section, {}).get('removed', ()):
            return step.split('->', 1)[1]
    return None


def unknown_key_messages(document: Mapping) -> list[str]:
    """One human-readable line per unknown key, with a hint where one exists."""
    messages = []
    for path, section, key in _walk_unknown(document, _ROOT, ''):
        release = removed_in(section, key)
        if release is not None:
            messages.append('%s: removed in gitlab-runner %s, ignored by newer runners' % (path, release.lstrip('v')))
            continue
        close = difflib.get_close_matches(key, RUNNER_CONFIG_KEYS[section], n=1)
        if close:
            messages.append('%s: unknown key, did you mean %r?' % (path, close[0]))
        else:
            messages.append('%s: unknown key' % path)
    return messages


# ------------------------------------------------------------------ types
#
# gitlab-runner decodes config.toml with BurntSushi/toml into Go structs, and
# any value that does not fit its field's type makes it refuse the whole file
# ("cannot load TOML value of type string into a Go integer"). The rules below
# are BurntSushi's (v1.6.0, decode.go): an integer field takes TOML integers
# only; a float field takes floats and integers up to 2**53; a time.Duration
# takes an integer (nanoseconds) or a string for Go's time.ParseDuration; a
# pointer is checked as the type it points to; a struct needs a table. The
# named types are the runner's own (common/config.go, common/labels.go).

_INTEGER_TYPES = frozenset(('int', 'int64', 'int32', 'RequestRetryLimit', 'RequestRetryBackoffMax'))
_STRING_TYPES = frozenset(('string', 'S3AuthType', 'KubernetesDNSPolicy', 'DockerPullPolicy'))
# Named maps, by the type of their values; None: any value (map[string]any).
_MAP_TYPES = {
    'Labels': 'string',
    'DockerSysCtls': 'string',
    'RequestRetryLimits': 'int',
    'AutoscalerSettingsMap': None,
}
_NAMED_SLICES = {'KubernetesHostAliasesFlag': '[]KubernetesHostAliases'}
_MAX_SAFE_FLOAT_INTEGER = 2 ** 53
# Go's time.ParseDuration: "0", or signed numbers each with a unit.
_GO_DURATION = re.compile(r'^[-+]?(?:0|(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)$')
_SHOWN_VALUE_LENGTH = 60
_TOML_TYPE_NAMES = (
    (bool, 'boolean'), (int, 'integer'), (float, 'float'), (str, 'string'), (Mapping, 'table'),
    (list, 'array'), (tuple, 'array'),
)


def _go_type_name(go_type):
    """The expectation in words: 'an integer', 'an array of strings', 'a table' ..."""
    go_type = go_type.lstrip('*')
    if go_type.startswith('[]'):
        item = go_type[2:].lstrip('*')
        if _is_struct(item):
            return 'an array of tables'
        return 'an array of %ss' % _go_type_name(item).split(' ', 1)[1]
    if go_type in _INTEGER_TYPES:
        return 'an integer'
    if go_type in _STRING_TYPES:
        return 'a string'
    if go_type == 'bool':
        return 'a boolean'
    if go_type in ('float64', 'float32'):
        return 'a float'
    if go_type == 'time.Duration':
        return "a duration such as '30m' or '1h30m' or an integer of nanoseconds"
    if go_type == 'time.Time':
        return 'a date-time'
    if go_type == 'StringOrArray':
        return 'a string or an array of strings'
    if go_type in _NAMED_SLICES:
        return _go_type_name(_NAMED_SLICES[go_type])
    value_type = _map_value_type(go_type)
    if value_type is not None:
        return 'a table of %ss' % _go_type_name(value_type).split(' ', 1)[1]
    return 'a table'


def _map_value_type(go_type):
    """The Go type of a map's values ('' for map[string]any), or None for a non-map."""
    if go_type.startswith('map[string]'):
        return go_type[len('map[string]'):]
    if go_type in _MAP_TYPES:
        return _MAP_TYPES[go_type] or ''
    return None


def _is_struct(go_type):
    """Whether a (pointer-less) Go type is one of the runner's structs, which TOML writes as tables."""
    return (go_type not in _INTEGER_TYPES and go_type not in _STRING_TYPES and go_type not in _MAP_TYPES
            and go_type not in _NAMED_SLICES and go_type != 'StringOrArray' and not go_type.startswith('time.')
            and (go_type[:1].isupper() or '.' in go_type))


def _toml_type_name(value):
    for python_type, name in _TOML_TYPE_NAMES:
        if isinstance(value, python_type):
            return name
    return 'date-time' if hasattr(value, 'isoformat') else type(value).__name__


def _shown(value, secret, mask):
    if secret:
        return mask
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, Mapping):
        return ''
    text = mask_url_userinfo(repr(value))
    if len(text) > _SHOWN_VALUE_LENGTH:
        text = text[:_SHOWN_VALUE_LENGTH - 3] + '...'
    return text


def _scalar_fits(go_type, value):
    if go_type in _INTEGER_TYPES:
        return isinstance(value, int) and not isinstance(value, bool)
    if go_type in _STRING_TYPES:
        return isinstance(value, str)
    if go_type == 'bool':
        return isinstance(value, bool)
    if go_type in ('float64', 'float32'):
        if isinstance(value, bool):
            return False
        return isinstance(value, float) or (isinstance(value, int) and abs(value) <= _MAX_SAFE_FLOAT_INTEGER)
    if go_type == 'time.Duration':
        if isinstance(value, str):
            return _GO_DURATION.match(value) is not None
        return isinstance(value, int) and not isinstance(value, bool)
    if go_type == 'time.Time':
        return isinstance(value, str) or hasattr(value, 'isoformat')
    return None


def _walk_types(value, declared, section_of_struct, path, secret, secret_keys):
    """(path, declared Go type, value, secret) for each value that does not fit ``declared``."""
    go_type = declared.lstrip('*')
    if go_type in _NAMED_SLICES:
        go_type = _NAMED_SLICES[go_type]
    fits = _scalar_fits(go_type, value)
    if fits is not None:
        if not fits:
            yield path, declared, value, secret
        return
    if go_type == 'StringOrArray':
        if isinstance(value, str):
            return
        if not isinstance(value, (list, tuple)):
            yield path, declared, value, secret
            return
        for index, item in enumerate(value):
            yield from _walk_types(item, 'string', None, '%s[%d]' % (path, index), secret, secret_keys)
        return
    if go_type.startswith('[]'):
        if not isinstance(value, (list, tuple)):
            yield path, declared, value, secret
            return
        for index, item in enumerate(value):
            yield from _walk_types(item, go_type[2:], section_of_struct, '%s[%d]' % (path, index), secret, secret_keys)
        return
    if not isinstance(value, Mapping):
        yield path, declared, value, secret
        return
    value_type = _map_value_type(go_type)
    if value_type is not None:
        if value_type:
            for key, item in value.items():
                yield from _walk_types(item, value_type, None, path + '.' + _path_part(key), secret, secret_keys)
        return
    if section_of_struct is not None:
        yield from _walk_section_types(value, section_of_struct, path, secret_keys)


def _walk_section_types(table, section, prefix, secret_keys):
    fields = RUNNER_CONFIG_KEYS[section]
    for key, value in table.items():
        go_type = fields.get(key)
        if go_type is None:
            continue
        path = prefix + '.' + _path_part(key) if prefix else _path_part(key)
        yield from _walk_types(value, go_type, child_section(section, key), path, key.lower() in secret_keys,
                               secret_keys)


def type_error_messages(document: Mapping, secret_keys=(), mask=MASK) -> list[str]:
    """One line per value of ``document`` whose type gitlab-runner would refuse.

    ``{'concurrent': 'abc'}`` gives ``["concurrent: gitlab-runner expects an
    integer (Go int), got the string 'abc'"]``. Unknown keys, and the keys
    of structures the key data does not describe, are not checked. The
    values of ``secret_keys`` (compared without regard to case), and
    everything inside them, are shown as ``mask``, URL passwords are
    masked and long values cut.
    """
    secrets = frozenset(key.lower() for key in secret_keys)
    messages = []
    for path, go_type, value, secret in _walk_section_types(document, _ROOT, '', secrets):
        shown = _shown(value, secret, mask)
        messages.append('%s: gitlab-runner expects %s (Go %s), got the %s%s'
                        % (path, _go_type_name(go_type), go_type, _toml_type_name(value),
                           ' ' + shown if shown else ''))
    return messages
