/** Types of kibana-data-views.mjs (plain JavaScript: ./setup.sh runs it before `npm ci`). */
export interface DataView {
  readonly id: string;
  readonly title: string;
  readonly name: string;
  readonly timeFieldName?: string;
  readonly allowNoIndex: true;
}
export function dataViews(prefix?: string): DataView[];
export function createDataViews(options: { kibana: string; prefix?: string; waitSeconds?: number }): Promise<void>;
