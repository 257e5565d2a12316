export type ErrorCode = "GGUF_INVALID" | "UNSUPPORTED_ARCH" | "UNSUPPORTED_TYPE" | "DEVICE_LIMITS" |
  "DEVICE_LOST" | "NO_WEBGPU" | "ABORTED" | "BAD_ARGUMENT" | "SESSION_DISPOSED" | "STATE_MISMATCH" |
  "CACHE_FAILED" | "NON_FINITE";
export interface BraidError extends Error { code: ErrorCode }
export type Source = string | Request | Response | ReadableStream<Uint8Array> | Blob | ArrayBuffer | Uint8Array;
export interface Progress { phase: "download" | "upload"; loaded: number; total: number | null; via?: "network" | "cache" }
export interface LoadOptions {
  onProgress?: (p: Progress) => void; signal?: AbortSignal; contextLength?: number; maxGpuBytes?: number;
  /** `false`: no prefix cache; `{ budget }`: its byte budget (default ¼ of the weights' GPU bytes, ≥ 32 MiB). */
  prefixCache?: boolean | { budget?: number };
}
/** What the model's prefix cache holds (bytes it keeps alive on the GPU) and has saved. */
export interface PrefixCacheInfo { enabled: boolean; entries: number; bytes: number; budget: number; hits: number; reusedTokens: number }
/** Tokens of an append taken from the prefix cache, and tokens computed. */
export interface AppendResult { reused: number; computed: number }
export interface ModelInfo {
  architecture: string; nEmbd: number; nLayer: number; nVocab: number; contextLength: number;
  parameters: number; quantTypes: string[]; layers: LayerInfo[];
  /** Rows (positions) a sliding-window layer keeps per session: its window plus one step. 0: no such layers. */
  windowRows: number;
  /** The KV cache's element type on the GPU: F16 on GPUs with `shader-f16` (half the bytes per token), else F32 (CPU adapters, models whose K/V rows have odd lengths). */
  kvCacheType: "f16" | "f32" | "none";
  gpuBytes: number; adapter: unknown; hasTokenizer: boolean; hasChatTemplate: boolean;
  bos: number | null; eos: number | null;
  /** Tokens that end a reply (llama.cpp's end-of-generation set: EOS, end of turn, …). */
  eog: number[];
}
/** One layer: its mixers on one normed input (none for an MLP-only layer), its FFN, and what it keeps per session. */
export interface LayerInfo {
  attention: boolean; recurrent: boolean;
  mixers: ("attention" | "mamba2" | "mamba1" | "short_conv" | "delta_net")[];
  ffn: "gated" | "plain" | "moe" | null;
  /** A mixture-of-experts layer: experts, used per token, shared experts. */
  experts: { count: number; used: number; shared: number } | null;
  kvBytesPerToken: number; stateBytes: number;
  /** Sliding window in positions (0: a global attention layer, or no attention). */
  window: number;
}
export interface Architecture { name: string; about: string }
export declare function supportedArchitectures(): Promise<Architecture[]>;
/**
 * Sampling for every token of a `generate` call. Without `temperature`: llama.cpp's defaults
 * (temperature {@link DEFAULT_TEMPERATURE}, top-k 40, top-p 0.95, min-p 0.05); `temperature: 0`
 * is greedy. `stop`: generation ends where one of the strings appears anywhere in the generated
 * text (also across tokens); neither it nor what follows is returned (OpenAI's semantics), and
 * the session keeps every generated token up to and including the one that completed it.
 */
export interface GenerateOptions {
  maxTokens?: number; temperature?: number; topK?: number; topP?: number; minP?: number;
  repeatPenalty?: number; presencePenalty?: number; frequencyPenalty?: number; seed?: number;
  stop?: string | string[]; signal?: AbortSignal;
}
/** `text` of a token event is the text now safe to show (held back while it could be the start of a stop string); the done event's `text` is what is left to show (usually ""). */
export type GenerateEvent = { done: false; token: number; text: string } | { done: true; finishReason: "stop" | "length" | "abort"; text: string };
/** The temperature a `generate` / `chat.completions.create` call uses when it gives none. */
export declare const DEFAULT_TEMPERATURE: number;
/** The sampler settings a `generate` call applies to every token (see {@link GenerateOptions}); `gpuGreedy`: the argmax is taken on the GPU. */
export declare function samplingPolicy(opts?: GenerateOptions): { cfg: Record<string, number | undefined>; gpuGreedy: boolean };
/** Bytes a session holds on the GPU: global attention KV (blocks held, rows used), recurrent state, sliding-window layers' rows (bounded by the window), checkpoints. */
export interface Memory { kv: number; kvUsed: number; recurrent: number; window: number; checkpoints: number }
/** OpenAI's tool call: `arguments` is a JSON string. */
export interface ToolCall { id: string; type: "function"; function: { name: string; arguments: string } }
export interface ChatMessage { role: string; content: string | null | { type: string; text?: string }[]; tool_calls?: ToolCall[]; tool_call_id?: string; name?: string; [field: string]: unknown }
/**
 * `tools` (OpenAI's function schemas) reach the chat template unless `tool_choice` is "none";
 * a reply in the model family's tool-call format (Granite 4.0 / Hermes / Qwen, Qwen3.5's XML,
 * LFM2's Python calls, Llama 3.x JSON) comes back as `message.tool_calls` with finish_reason
 * "tool_calls" (streamed as a `tool_calls` delta). `chat_template_kwargs`: more template
 * variables (`enable_thinking`, …).
 */
export interface ChatRequest { messages: ChatMessage[]; tools?: unknown[]; tool_choice?: "auto" | "none" | "required" | object; chat_template_kwargs?: Record<string, unknown>; stream?: boolean; stream_options?: { include_usage?: boolean }; max_tokens?: number; temperature?: number; top_p?: number; seed?: number; stop?: string | string[]; signal?: AbortSignal }
/** The tool calls in a reply (the formats of ChatRequest), or null: `{ content, tool_calls }`. */
export declare function parseToolCalls(text: string): { content: string | null; tool_calls: ToolCall[] } | null;
export declare function initBraid(wasmUrl?: string | URL): Promise<unknown>;
export declare class Session {
  append(textOrIds: string | number[] | Uint32Array, opts?: { logits?: boolean }): Promise<AppendResult>;
  generate(opts?: GenerateOptions): AsyncGenerator<GenerateEvent>;
  logits(): Promise<Float32Array>;
  readonly length: number;
  readonly tokens: number[];
  readonly memory: Memory;
  fork(): Promise<Session>;
  rewind(n: number): Promise<number>;
  save(): Promise<Uint8Array>;
  dispose(): void;
}
export interface BenchReport {
  prefillTokens: number; prefillTokS: number; decodeTokens: number; decodeTokS: number;
  /** Weight bytes one decoded token reads (of experts only the k used). */
  weightBytesPerToken: number; decodeEffectiveGbS: number;
  /** The adapter's vec4 copy (read + write bytes) and read-only bandwidth, GB/s, same run. */
  copyGbS: number; readGbS: number; fractionOfCopy: number; fractionOfRead: number;
  perDecodedToken: { dispatches: number; dispatchesPerLayer: number; bindGroupsCreated: number; submits: number; buffersCreated: number };
  batchedDecode: { sessions: number; steps: number; tokS: number; stepMs: number }[];
  adapter: unknown; gpuBytes: number; expertsCounted: string;
  /** The KV cache's element type on the GPU (as `ModelInfo.kvCacheType`), and its bytes per token over the global attention layers. */
  kvCacheType: "f16" | "f32" | "none"; kvBytesPerToken: number;
}
export declare class Model {
  static load(source: Source, options?: LoadOptions): Promise<Model>;
  readonly info: ModelInfo;
  tokenize(text: string, opts?: { special?: boolean; addBos?: boolean }): number[];
  /** `special`: control tokens as their text (llama.cpp's unparse_special); else left out. */
  detokenize(ids: number[] | Uint32Array, opts?: { special?: boolean }): string;
  createSession(): Session;
  restoreSession(bytes: Uint8Array | ArrayBuffer): Promise<Session>;
  /** Renders as Hugging Face's apply_chat_template: `tools`, `documents` and other template variables (e.g. `enable_thinking`) reach the template. */
  applyChatTemplate(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean; tools?: unknown[]; documents?: unknown[]; [variable: string]: unknown }): string;
  chat: { completions: { create(req: ChatRequest): Promise<any> } };
  /** Model-wide memory: the prefix cache. */
  readonly memory: { prefixCache: PrefixCacheInfo };
  /** Turn the prefix cache on / off (off empties it), set its byte budget. */
  setPrefixCache(opts?: { enabled?: boolean; budget?: number }): void;
  /** Benchmark on this adapter: the same figures as `braid bench --json`, camelCase keys. */
  bench(opts?: { promptTokens?: number; genTokens?: number; batch?: number }): Promise<BenchReport>;
  dispose(): void;
}
