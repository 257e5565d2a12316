//! Samplers against closed forms: argmax, the softmax distribution, truncations, penalties,
//! reproducibility.
#![cfg(not(target_arch = "wasm32"))]

use braid::sample::{penalize, Sampler, SamplerConfig};

fn softmax(l: &[f32], t: f32) -> Vec<f64> {
    let m = l.iter().cloned().fold(f32::MIN, f32::max);
    let e: Vec<f64> = l.iter().map(|&x| (((x - m) / t) as f64).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

fn freq(cfg: SamplerConfig, logits: &[f32], n: usize) -> Vec<f64> {
    let mut s = Sampler::new(cfg);
    let mut c = vec![0usize; logits.len()];
    for _ in 0..n {
        c[s.sample(logits, &[]).unwrap() as usize] += 1;
    }
    c.into_iter().map(|x| x as f64 / n as f64).collect()
}

const L: [f32; 6] = [1.0, 2.5, 0.3, 2.4, -1.0, 0.9];

#[test]
fn greedy_is_argmax() {
    let mut s = Sampler::new(SamplerConfig::greedy());
    assert_eq!(s.sample(&L, &[]).unwrap(), 1);
    let mut k1 = Sampler::new(SamplerConfig { top_k: 1, ..Default::default() });
    assert_eq!(k1.sample(&L, &[]).unwrap(), 1);
}

#[test]
fn plain_temperature_sampling_follows_softmax() {
    let cfg = SamplerConfig { temperature: 0.7, top_k: 0, top_p: 1.0, min_p: 0.0, seed: 9, ..Default::default() };
    let f = freq(cfg, &L, 40000);
    let p = softmax(&L, 0.7);
    for (a, b) in f.iter().zip(&p) {
        assert!((a - b).abs() < 0.01, "{f:?} vs {p:?}");
    }
}

#[test]
fn truncations_keep_what_they_should() {
    // top-k 2: only tokens 1 and 3, renormalised.
    let f = freq(SamplerConfig { temperature: 1.0, top_k: 2, top_p: 1.0, min_p: 0.0, seed: 1, ..Default::default() }, &L, 20000);
    assert!(f.iter().enumerate().all(|(i, &x)| (i == 1 || i == 3) || x == 0.0));
    let p = softmax(&[2.5, 2.4], 1.0);
    assert!((f[1] - p[0]).abs() < 0.015, "{f:?}");
    // top-p 0.5: the smallest prefix of the sorted distribution reaching 0.5.
    let sm = softmax(&L, 1.0);
    assert!(sm[1] < 0.5 && sm[1] + sm[3] >= 0.5);
    let f = freq(SamplerConfig { temperature: 1.0, top_k: 0, top_p: 0.5, min_p: 0.0, seed: 2, ..Default::default() }, &L, 5000);
    assert!(f.iter().enumerate().all(|(i, &x)| (i == 1 || i == 3) || x == 0.0), "{f:?}");
    // min-p 0.3: tokens with p >= 0.3 · p_max.
    let keep: Vec<usize> = (0..6).filter(|&i| sm[i] >= 0.3 * sm[1]).collect();
    let f = freq(SamplerConfig { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.3, seed: 3, ..Default::default() }, &L, 5000);
    assert!(f.iter().enumerate().all(|(i, &x)| keep.contains(&i) || x == 0.0), "{f:?} keep {keep:?}");
}

#[test]
fn penalties_follow_llama_cpp() {
    let cfg = SamplerConfig { repeat_penalty: 2.0, frequency_penalty: 0.5, presence_penalty: 0.25, penalty_last_n: 3, ..Default::default() };
    let mut l = L.to_vec();
    // history: token 0 twice in the window, token 4 once, token 1 outside the window.
    penalize(&mut l, &[1, 0, 4, 0], &cfg);
    assert_eq!(l[0], 1.0 / 2.0 - 2.0 * 0.5 - 0.25);
    assert_eq!(l[4], -1.0 * 2.0 - 0.5 - 0.25);
    assert_eq!(l[1], 2.5);
}

#[test]
fn same_seed_same_tokens() {
    let cfg = SamplerConfig { temperature: 1.2, seed: 42, ..Default::default() };
    let run = || {
        let mut s = Sampler::new(cfg);
        (0..50).map(|_| s.sample(&L, &[]).unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
    let mut other = Sampler::new(SamplerConfig { seed: 43, ..cfg });
    assert_ne!(run(), (0..50).map(|_| other.sample(&L, &[]).unwrap()).collect::<Vec<_>>());
    assert!(SamplerConfig { top_p: 1.5, ..cfg }.validate().is_err());
    assert!(SamplerConfig { temperature: f32::NAN, ..cfg }.validate().is_err());
}

/// Non-finite logits: NaN and −∞ are never drawn, +∞ wins outright, and with nothing finite
/// left the sampler says so (a typed error, never a silent token 0) — at every temperature
/// and truncation.
#[test]
fn non_finite_logits_are_never_drawn() {
    let nan = f32::NAN;
    let configs = [
        SamplerConfig::greedy(),
        SamplerConfig { temperature: 0.7, top_k: 0, top_p: 1.0, min_p: 0.0, seed: 4, ..Default::default() },
        SamplerConfig { seed: 5, ..Default::default() },
        SamplerConfig { temperature: 1.5, top_k: 2, top_p: 0.9, min_p: 0.1, seed: 6, ..Default::default() },
    ];
    for cfg in configs {
        // [1, NaN, 3, 2]: never the NaN; greedy picks 3
        let f = freq(cfg, &[1.0, nan, 3.0, 2.0], 3000);
        assert_eq!(f[1], 0.0, "{cfg:?}: drew the NaN entry");
        if cfg.temperature <= 0.0 {
            assert_eq!(f[2], 1.0);
        }
        // −∞ and NaN everywhere but one finite logit: that one
        let f = freq(cfg, &[f32::NEG_INFINITY, nan, -5.0, nan], 500);
        assert_eq!(f[2], 1.0, "{cfg:?}: {f:?}");
        // +∞ wins; two +∞ share
        let f = freq(cfg, &[1.0, f32::INFINITY, 3.0, nan], 500);
        assert_eq!(f[1], 1.0, "{cfg:?}: {f:?}");
        let f = freq(cfg, &[f32::INFINITY, 1.0, f32::INFINITY], 4000);
        assert_eq!(f[1], 0.0);
        if cfg.temperature > 0.0 {
            assert!((f[0] - 0.5).abs() < 0.05, "{cfg:?}: {f:?}");
        }
        // nothing drawable: an error
        let mut s = Sampler::new(cfg);
        assert!(s.sample(&[nan, f32::NEG_INFINITY, nan], &[]).is_err(), "{cfg:?}");
        assert!(s.sample(&[], &[]).is_err());
    }
    assert_eq!(braid::sample::argmax(&[nan, 1.0, 3.0, nan]), 2);
}

/// Parameters at their bounds give the limit's answer: a vanishing temperature is the argmax,
/// a huge one the uniform choice over what the truncations keep; top-p 0, top-k 1 and min-p 1
/// keep only the most likely token; top-k above the vocabulary keeps all.
#[test]
fn extreme_parameters_give_their_limits() {
    for t in [1e-30f32, 1e-8, f32::MIN_POSITIVE] {
        let f = freq(SamplerConfig { temperature: t, top_k: 0, top_p: 1.0, min_p: 0.0, seed: 7, ..Default::default() }, &L, 500);
        assert_eq!(f[1], 1.0, "temperature {t}: {f:?}");
    }
    let f = freq(SamplerConfig { temperature: 1e30, top_k: 0, top_p: 1.0, min_p: 0.0, seed: 8, ..Default::default() }, &L, 30000);
    assert!(f.iter().all(|&x| (x - 1.0 / 6.0).abs() < 0.015), "uniform at a huge temperature: {f:?}");
    for cfg in [
        SamplerConfig { temperature: 1.0, top_k: 0, top_p: 0.0, min_p: 0.0, seed: 9, ..Default::default() },
        SamplerConfig { temperature: 1.0, top_k: 1, top_p: 1.0, min_p: 0.0, seed: 9, ..Default::default() },
        SamplerConfig { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 1.0, seed: 9, ..Default::default() },
    ] {
        assert_eq!(freq(cfg, &L, 300)[1], 1.0, "{cfg:?}");
    }
    let f = freq(SamplerConfig { temperature: 1.0, top_k: 1 << 20, top_p: 1.0, min_p: 0.0, seed: 10, ..Default::default() }, &L, 40000);
    let p = softmax(&L, 1.0);
    assert!(f.iter().zip(&p).all(|(a, b)| (a - b).abs() < 0.01), "{f:?} vs {p:?}");
    // huge logits do not overflow into NaN
    let f = freq(SamplerConfig { temperature: 0.5, top_k: 0, top_p: 1.0, min_p: 0.0, seed: 11, ..Default::default() }, &[3.0e38, -3.0e38, 3.0e38], 4000);
    assert!(f[1] == 0.0 && (f[0] - 0.5).abs() < 0.05, "{f:?}");
}
