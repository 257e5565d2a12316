//! Hyperparameters and per-layer kinds, read from GGUF metadata (spec §1.1, §1.2).

use crate::gguf::{GgufIndex, Value};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("unsupported architecture {0:?} (supported: llama, mamba2, granitehybrid, falcon-h1)")]
    UnsupportedArch(String),
    #[error("metadata key {0:?} is missing or has the wrong type")]
    MissingKey(String),
    #[error("tensor {0:?} is missing")]
    MissingTensor(String),
    #[error("tensor {name:?} has shape {got:?}, expected {want:?}")]
    BadShape { name: String, got: Vec<u64>, want: Vec<u64> },
    #[error("tensor {0:?} is not used by Braid's implementation of this architecture (not supported yet)")]
    UnexpectedTensor(String),
    #[error("invalid hyperparameters: {0}")]
    BadHparams(String),
}

impl ModelError {
    /// The stable error code used by the JavaScript API.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::UnsupportedArch(_) => "UNSUPPORTED_ARCH",
            ModelError::UnexpectedTensor(_) => "UNSUPPORTED_TYPE",
            _ => "GGUF_INVALID",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Mamba2,
    GraniteHybrid,
    FalconH1,
}

impl Arch {
    pub fn from_name(s: &str) -> Option<Arch> {
        Some(match s {
            "llama" => Arch::Llama,
            "mamba2" => Arch::Mamba2,
            "granitehybrid" => Arch::GraniteHybrid,
            "falcon-h1" => Arch::FalconH1,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Mamba2 => "mamba2",
            Arch::GraniteHybrid => "granitehybrid",
            Arch::FalconH1 => "falcon-h1",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeType {
    None,
    /// Adjacent pairs (x[2i], x[2i+1]).
    Norm,
    /// Split halves (x[i], x[i + n_rot/2]).
    Neox,
}

/// What a layer holds: attention (a KV cache), a recurrent mixer (conv + SSM state), or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerKind {
    pub attention: bool,
    pub recurrent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SsmParams {
    pub d_conv: u32,
    pub d_inner: u32,
    pub d_state: u32,
    pub n_head: u32,
    pub n_group: u32,
    pub head_dim: u32,
}

impl SsmParams {
    pub fn conv_dim(&self) -> u32 {
        self.d_inner + 2 * self.n_group * self.d_state
    }
    pub fn d_in_proj(&self) -> u32 {
        2 * self.d_inner + 2 * self.n_group * self.d_state + self.n_head
    }
    /// Floats of conv state per sequence and layer.
    pub fn conv_state_len(&self) -> u32 {
        (self.d_conv - 1) * self.conv_dim()
    }
    /// Floats of SSM state per sequence and layer.
    pub fn ssm_state_len(&self) -> u32 {
        self.d_state * self.d_inner
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HParams {
    pub arch: Arch,
    pub n_embd: u32,
    pub n_layer: u32,
    pub n_vocab: u32,
    pub n_ff: u32,
    pub n_head: u32,
    /// Per layer; 0 for layers without attention.
    pub n_head_kv: Vec<u32>,
    pub head_dim: u32,
    pub n_rot: u32,
    pub rope_type: RopeType,
    pub rope_theta: f32,
    pub eps: f32,
    pub ssm: Option<SsmParams>,
    pub layers: Vec<LayerKind>,
    /// Granite multipliers (1 / 0 when absent).
    pub embedding_scale: f32,
    pub residual_scale: f32,
    pub attention_scale: f32,
    pub logit_scale: f32,
    pub context_length: u32,
}

fn u32_of(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|x| u32::try_from(x).ok())
}

impl HParams {
    pub fn from_index(index: &GgufIndex) -> Result<HParams, ModelError> {
        let arch_name = index.architecture().ok_or_else(|| ModelError::MissingKey("general.architecture".into()))?;
        let arch = Arch::from_name(arch_name).ok_or_else(|| ModelError::UnsupportedArch(arch_name.into()))?;
        let key = |k: &str| format!("{arch_name}.{k}");
        let get_u32 = |k: &str| index.get(&key(k)).and_then(u32_of);
        let req_u32 = |k: &str| get_u32(k).ok_or_else(|| ModelError::MissingKey(key(k)));
        let get_f32 = |k: &str| index.get(&key(k)).and_then(Value::as_f64).map(|v| v as f32);
        let n_embd = req_u32("embedding_length")?;
        let n_layer = req_u32("block_count")?;
        if n_embd == 0 || n_layer == 0 || n_layer > 4096 || n_embd > 1 << 20 {
            return Err(ModelError::BadHparams(format!("embedding_length {n_embd}, block_count {n_layer}")));
        }
        let n_vocab = match index.get("tokenizer.ggml.tokens") {
            Some(Value::Array(a)) => a.len() as u32,
            _ => index
                .tensor("token_embd.weight")
                .and_then(|t| t.dims.get(1).copied())
                .map(|v| v as u32)
                .ok_or_else(|| ModelError::MissingTensor("token_embd.weight".into()))?,
        };
        // Scalars or per-layer arrays (spec §1.1).
        let per_layer = |k: &str, default: u32| -> Result<Vec<u32>, ModelError> {
            match index.get(&key(k)) {
                None => Ok(vec![default; n_layer as usize]),
                Some(Value::Array(a)) => {
                    let v: Option<Vec<u32>> = (0..a.len()).map(|i| a.get(i).as_ref().and_then(u32_of)).collect();
                    match v {
                        Some(v) if v.len() == n_layer as usize => Ok(v),
                        _ => Err(ModelError::BadHparams(format!("{} must have {n_layer} integer entries", key(k)))),
                    }
                }
                Some(v) => u32_of(v).map(|x| vec![x; n_layer as usize]).ok_or_else(|| ModelError::MissingKey(key(k))),
            }
        };
        let n_head_v = per_layer("attention.head_count", 0)?;
        let n_head = n_head_v.iter().copied().max().unwrap_or(0);
        let n_head_kv = match index.get(&key("attention.head_count_kv")) {
            None => n_head_v.clone(),
            Some(_) => per_layer("attention.head_count_kv", 0)?,
        };
        let n_ff = per_layer("feed_forward_length", 0)?.into_iter().max().unwrap_or(0);
        let head_dim = get_u32("attention.key_length").unwrap_or(if n_head > 0 { n_embd / n_head } else { 0 });
        let n_rot = get_u32("rope.dimension_count").unwrap_or(head_dim);
        let ssm = match get_u32("ssm.inner_size") {
            Some(d_inner) if d_inner > 0 && d_inner <= 1 << 20 => {
                let n_head = req_u32("ssm.time_step_rank")?;
                let n_group = get_u32("ssm.group_count").unwrap_or(1).clamp(1, 1 << 10);
                let p = SsmParams {
                    d_conv: req_u32("ssm.conv_kernel")?,
                    d_inner,
                    d_state: req_u32("ssm.state_size")?,
                    n_head,
                    n_group,
                    head_dim: if n_head > 0 { d_inner / n_head } else { 0 },
                };
                if n_head == 0 || d_inner % n_head != 0 || d_inner % n_group != 0 || n_head % n_group != 0
                    || p.d_conv < 1 || p.d_conv > 16 || p.d_state == 0 || p.d_state > 256
                {
                    return Err(ModelError::BadHparams(format!("ssm parameters {p:?}")));
                }
                Some(p)
            }
            Some(d_inner) if d_inner > 0 => return Err(ModelError::BadHparams(format!("ssm.inner_size {d_inner} is above 2^20"))),
            _ => None,
        };
        let finetuned = index.get(&key("rope.scaling.finetuned")).and_then(Value::as_bool).unwrap_or(true);
        let rope_type = match arch {
            Arch::Llama => RopeType::Norm,
            Arch::Mamba2 => RopeType::None,
            Arch::GraniteHybrid => if finetuned { RopeType::Norm } else { RopeType::None },
            Arch::FalconH1 => RopeType::Neox,
        };
        let layers: Vec<LayerKind> = (0..n_layer as usize)
            .map(|il| match arch {
                Arch::Llama => LayerKind { attention: true, recurrent: false },
                Arch::Mamba2 => LayerKind { attention: false, recurrent: true },
                Arch::GraniteHybrid => {
                    let r = n_head_kv[il] == 0;
                    LayerKind { attention: !r, recurrent: r }
                }
                Arch::FalconH1 => LayerKind { attention: true, recurrent: true },
            })
            .collect();
        if layers.iter().any(|l| l.recurrent) && ssm.is_none() {
            return Err(ModelError::MissingKey(key("ssm.inner_size")));
        }
        if layers.iter().any(|l| l.attention) {
            if n_head == 0 || head_dim == 0 || head_dim > 512 || n_rot > head_dim || n_rot % 2 != 0 {
                return Err(ModelError::BadHparams(format!("n_head {n_head}, head_dim {head_dim}, n_rot {n_rot}")));
            }
            for (il, l) in layers.iter().enumerate() {
                let kv = n_head_kv[il];
                if l.attention && (kv == 0 || n_head_v[il] % kv != 0) {
                    return Err(ModelError::BadHparams(format!("layer {il}: n_head {} not a multiple of n_head_kv {kv}", n_head_v[il])));
                }
            }
        }
        // Caps that keep `MAX_BATCH × dimension` within u32 for every buffer and index.
        let ssm_dims = ssm.map_or(0, |p| p.d_in_proj().max(p.conv_dim()));
        let widest = [n_vocab, n_ff, n_head.saturating_mul(head_dim), ssm_dims];
        if widest.iter().any(|&d| d > 1 << 20) || n_head > 4096 {
            return Err(ModelError::BadHparams(format!("a dimension is above 2^20 (vocab {n_vocab}, ff {n_ff}, heads {n_head}×{head_dim}, ssm {ssm_dims})")));
        }
        Ok(HParams {
            arch,
            n_embd,
            n_layer,
            n_vocab,
            n_ff,
            n_head,
            n_head_kv,
            head_dim,
            n_rot,
            rope_type,
            rope_theta: get_f32("rope.freq_base").unwrap_or(10000.0),
            eps: get_f32("attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
            ssm,
            layers,
            embedding_scale: get_f32("embedding_scale").unwrap_or(0.0),
            residual_scale: get_f32("residual_scale").unwrap_or(0.0),
            attention_scale: get_f32("attention.scale").unwrap_or(0.0),
            logit_scale: get_f32("logit_scale").unwrap_or(0.0),
            context_length: get_u32("context_length").unwrap_or(4096),
        })
    }

    /// Softmax scale of attention layers.
    pub fn kq_scale(&self) -> f32 {
        if self.attention_scale != 0.0 { self.attention_scale } else { 1.0 / (self.head_dim as f32).sqrt() }
    }
}
