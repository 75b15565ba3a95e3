// JSON shapes of the Boreas api (functions/api, GET /api/openapi.json).

export type Role = 'viewer' | 'deployer' | 'approver' | 'admin';

export type DeploymentStatus =
  | 'planned'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'rolled_back'
  | 'cancelled'
  | 'superseded';

export interface List<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Version {
  repository: string;
  name: string;
  commit: string;
  state: 'normal' | 'revert';
  status: 'received' | 'planned' | 'invalid_config' | 'plan_failed';
  diverged?: boolean;
  errors?: string[];
  received_at?: string;
  /** Who pushed the tag, as the git host names them. */
  pushed_by?: string | null;
}

export interface DeploymentSummary {
  id: string;
  repository: string;
  version: string;
  environment: string;
  status: DeploymentStatus;
  created_at: string;
  started_at?: string | null;
  ended_at?: string | null;
  failed_target?: string | null;
  error?: string | null;
}

/** A batch size: a count of targets, or a share such as "50%". */
export type BatchSize = number | string;

export type PausePlan =
  | { type: 'none' }
  | { type: 'wait'; seconds: number }
  | { type: 'gate'; gate: string };

export interface BatchPlan {
  index: number;
  targets: string[];
  weight?: number;
  pause: PausePlan;
}

export interface AppPlan {
  app: string;
  kind: 'pm' | 'k8s';
  depends_on?: string[];
  current_version?: string;
  targets: string[];
  batch_sizes: BatchSize[];
  /** "none", "manual" or a duration such as "5m". */
  pause: string;
  parallelism: number;
  heartbeat_seconds: number;
  timeout_seconds: number;
  batches: BatchPlan[];
}

export interface Stage {
  parallelism: number;
  apps: AppPlan[];
}

export interface Plan {
  environment: string;
  version: string;
  stages: Stage[];
  skipped?: { app: string; reason: string }[];
}

export interface Deployment extends DeploymentSummary {
  plan: Plan;
}

export interface AppProgress {
  app: string;
  status: 'pending' | 'running' | 'succeeded' | 'rolling_back' | 'rolled_back' | 'failed';
  started_at: string | null;
  ended_at: string | null;
}

export interface BatchProgress {
  app: string;
  index: number;
  status: 'running' | 'succeeded' | 'failed';
  started_at: string | null;
  ended_at: string | null;
}

export interface TargetProgress {
  app: string;
  target: string;
  status: 'running' | 'succeeded' | 'failed' | 'rolling_back' | 'rolled_back' | 'rollback_failed';
  batch: number;
  updated_at: string;
  error_type: string | null;
  error: string | null;
}

export interface GateProgress {
  gate: string;
  status: 'waiting' | 'approved' | 'rejected';
  comment: string | null;
  by: string | null;
}

export interface Progress {
  apps: AppProgress[];
  batches: BatchProgress[];
  targets: TargetProgress[];
  gates: GateProgress[];
}

export interface DeploymentDetail extends Deployment {
  progress: Progress;
}

export type Adjustment =
  | { op: 'move_stage'; stage: number; to: number }
  | { op: 'move_app'; app: string; stage: number }
  | { op: 'split_stage'; stage: number; apps: string[] }
  | { op: 'merge_stages'; stage: number }
  | { op: 'set_batches'; app: string; batches: BatchSize[] }
  | { op: 'set_pause'; app: string; pause: string }
  | { op: 'drop_app'; app: string };

export interface AppEnvironment {
  environment: string;
  repository: string | null;
  desired_version: string | null;
  desired_deployment: string | null;
  targets: number;
  covered: number;
  coverage: number | null;
  drifted: { target: string; version: string }[];
  unreported: string[];
}

export interface App {
  name: string;
  environments: AppEnvironment[];
}

export interface Agent {
  environment: string;
  host: string;
  group: string;
  last_seen: string;
  stale: boolean;
  apps: { app: string; version: string | null; healthy: boolean }[];
}
