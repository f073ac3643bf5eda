export type { ModelApproval, ModelMeta, ModelVersion } from './layout.ts';
export {
  BEHAVIOUR_MODEL,
  ModelStatus,
  ModelStoreError,
  modelMeta,
  newestApproved,
  objectName,
  versionOf,
} from './layout.ts';
export { ModelStore } from './store.ts';
