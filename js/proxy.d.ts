// Types of braid-llm/proxy: the engine in a Web Worker. Everything is asynchronous here.
import type { AppendResult, BenchReport, ChatMessage, GenerateEvent, GenerateOptions, LoadOptions, Memory, ModelInfo, PrefixCacheInfo, Progress, Source } from "./index.js";

export interface WorkerLoadOptions extends LoadOptions {
  /** Keep a URL's bytes in the Cache API (braid-llm/cache) as they stream to the GPU. */
  cache?: boolean;
  /** Use this worker instead of starting `braid-llm/worker`. */
  worker?: Worker;
  onProgress?: (p: Progress) => void;
}
export interface SessionState { length: number; tokens: number[]; memory: Memory }
export declare class RemoteSession {
  append(input: string | number[] | Uint32Array, opts?: { logits?: boolean }): Promise<AppendResult>;
  generate(opts?: GenerateOptions): AsyncGenerator<GenerateEvent>;
  logits(): Promise<Float32Array>;
  state(): Promise<SessionState>;
  fork(): Promise<RemoteSession>;
  rewind(n: number): Promise<number>;
  save(): Promise<Uint8Array>;
  dispose(): Promise<void>;
}
export declare class RemoteModel {
  readonly info: ModelInfo;
  /** true when every byte came from the browser cache (no network). */
  fromCache: boolean;
  tokenize(text: string, opts?: { special?: boolean; addBos?: boolean }): Promise<number[]>;
  detokenize(ids: number[] | Uint32Array, opts?: { special?: boolean }): Promise<string>;
  applyChatTemplate(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean; tools?: unknown[]; documents?: unknown[]; [variable: string]: unknown }): Promise<string>;
  createSession(): Promise<RemoteSession>;
  restoreSession(bytes: Uint8Array | ArrayBuffer): Promise<RemoteSession>;
  memory(): Promise<{ prefixCache: PrefixCacheInfo }>;
  setPrefixCache(opts?: { enabled?: boolean; budget?: number }): Promise<void>;
  /** As Model.bench, run in the worker. */
  bench(opts?: { promptTokens?: number; genTokens?: number; batch?: number }): Promise<BenchReport>;
  dispose(): Promise<void>;
}
export declare function loadInWorker(source: Source | File, options?: WorkerLoadOptions): Promise<RemoteModel>;
