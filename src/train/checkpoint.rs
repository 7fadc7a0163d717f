//! Checkpoints that resume exactly. A checkpoint is a model file (weights and running
//! statistics under their PyTorch names, the spec in the metadata, so
//! `safetensors.torch.load_file` reads it and `load_state_dict(..., strict=False)` takes
//! the weights) plus the optimizer's state as tensors `optimizer.state1.<name>` and
//! `optimizer.state2.<name>` (the slots its update uses), and in the metadata the training
//! config and position: epoch, step in it, the optimizer's step counter and the dropout
//! seed. The shuffle is replayed from the config's seed, so N steps, a checkpoint and M
//! more give the weights N + M steps give straight (tests/train.rs: bitwise, same engine).

use serde::{Deserialize, Serialize};

use super::{TrainConfig, Trainer};
use crate::data::Mnist;
use crate::error::Error;
use crate::model::safetensors::{self, OPTIMIZER_PREFIX};
use crate::model::{plan, Engine, Net, Spec};

/// Where a run stands, as the metadata "checkpoint" records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub config: TrainConfig,
    /// Epochs begun, and steps taken in the last of them.
    pub epoch: usize,
    pub step_in_epoch: usize,
    /// The optimizer's step counter (Adam's bias correction, the schedule, dropout masks).
    pub optimizer_step: u32,
    pub dropout_seed: u32,
}

fn slot_name(slot: usize, tensor: &str) -> String {
    format!("{OPTIMIZER_PREFIX}state{}.{tensor}", slot + 1)
}

/// The trainer's model, optimizer state and position as a checkpoint file. A non-finite
/// weight or optimizer value is refused (a diverged run has no checkpoint to give).
pub async fn to_bytes(trainer: &Trainer) -> Result<Vec<u8>, Error> {
    let net = &trainer.model;
    let tensors = net.read_tensors().await?;
    let (optimizer_step, state) = net.read_optimizer().await?;
    let position = Position {
        config: trainer.config,
        epoch: trainer.epoch,
        step_in_epoch: trainer.step_in_epoch,
        optimizer_step,
        dropout_seed: net.dropout_seed(),
    };
    let mut named: Vec<(String, Vec<usize>, Vec<f32>)> =
        tensors.iter().map(|(t, v)| (t.name.clone(), t.shape.clone(), v.clone())).collect();
    for slot in 0..trainer.config.optimizer.state_slots() {
        for t in net.tensors().iter().filter(|t| t.trainable) {
            named.push((slot_name(slot, &t.name), t.shape.clone(), state[slot][t.offset as usize..][..t.len].to_vec()));
        }
    }
    for (name, _, v) in &named {
        if let Some(x) = v.iter().find(|x| !x.is_finite()) {
            return Err(Error::Diverged(format!("'{name}' holds {x} at epoch {} step {}", position.epoch, position.step_in_epoch)));
        }
    }
    let mut metadata = safetensors::model_metadata(net.spec());
    metadata.push(("checkpoint", serde_json::to_string(&position).expect("a position serializes")));
    let refs: Vec<(String, Vec<usize>, &[f32])> = named.iter().map(|(n, s, v)| (n.clone(), s.clone(), v.as_slice())).collect();
    Ok(safetensors::write(&metadata, &refs))
}

/// A checkpoint file, parsed and checked: the model's spec and tensor values (state-dict
/// order), the position, and the optimizer's state per slot and trainable tensor (in
/// state-dict order).
pub struct Checkpoint {
    pub spec: Spec,
    pub values: Vec<Vec<f32>>,
    pub position: Position,
    pub optimizer: Vec<Vec<Vec<f32>>>,
}

/// Parses a checkpoint without building anything: every tensor's name, shape and
/// finiteness, the optimizer state the recipe's optimizer needs, the position's JSON.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Checkpoint, Error> {
    let bad = |what: String| Error::BadFile(format!("{file}: {what}"));
    let raw = safetensors::read(file, bytes)?;
    let (spec, values) = safetensors::model_of(file, &raw)?;
    let position: Position = raw
        .metadata
        .get("checkpoint")
        .ok_or_else(|| bad("a model file without training state: continue it with --load (the optimizer starts afresh)".into()))
        .and_then(|text| serde_json::from_str(text).map_err(|e| bad(format!("its training state is invalid ({e})"))))?;
    let trainable: Vec<(String, Vec<usize>)> =
        plan(&spec)?.iter().flat_map(|l| l.tensors()).filter(|t| t.2).map(|(name, shape, _)| (name, shape)).collect();
    let mut optimizer = Vec::new();
    for slot in 0..position.config.optimizer.state_slots() {
        let mut tensors = Vec::new();
        for (tensor, want) in &trainable {
            let name = slot_name(slot, tensor);
            let (shape, v) = raw.tensors.get(&name).ok_or_else(|| bad(format!("the optimizer state '{name}' is missing")))?;
            if shape != want {
                return Err(bad(format!("the optimizer state '{name}' has shape {shape:?}, its tensor {want:?}")));
            }
            safetensors::finite(file, &name, v)?;
            tensors.push(v.clone());
        }
        optimizer.push(tensors);
    }
    Ok(Checkpoint { spec, values, position, optimizer })
}

/// A trainer on `engine` at the checkpoint's position, with its weights, optimizer state,
/// step counter, dropout seed and the epoch's shuffle as they were. `epochs`, when given,
/// replaces the recipe's (a schedule is then stretched to the new length).
pub fn resume(engine: &Engine, file: &str, bytes: &[u8], data: &Mnist, epochs: Option<usize>) -> Result<Trainer, Error> {
    let c = parse(file, bytes)?;
    let net = Net::with_values(engine, &c.spec, &c.values)?;
    resume_with(net, &c, data, epochs).map_err(|e| Error::BadFile(format!("{file}: {e}")))
}

/// As `resume`, on a network that already holds the checkpoint's weights (the page
/// loads the file as its model first, so its prediction graphs stay valid).
pub fn resume_with(mut net: Net, c: &Checkpoint, data: &Mnist, epochs: Option<usize>) -> Result<Trainer, Error> {
    let mut state = [vec![0f32; net.param_words()], vec![0f32; net.param_words()]];
    for (slot, tensors) in c.optimizer.iter().enumerate() {
        for (t, v) in net.tensors().iter().filter(|t| t.trainable).zip(tensors) {
            state[slot][t.offset as usize..][..t.len].copy_from_slice(v);
        }
    }
    net.write_optimizer(c.position.optimizer_step, &state);
    net.set_dropout_seed(c.position.dropout_seed);
    let mut config = c.position.config;
    config.epochs = epochs.unwrap_or(config.epochs);
    let mut trainer = Trainer::new(net, config, data)?;
    trainer.seek(c.position.epoch, c.position.step_in_epoch)?;
    if trainer.epoch == 0 {
        trainer.begin_epoch();
    }
    Ok(trainer)
}
