"""{{NAME}}: a PyTorch module of the same layers as the Glassbox project, written by Glassbox.

    pip install torch
    python {{FILE}} --weights model.safetensors --check     # outputs for one random batch
    python {{FILE}} --weights model.safetensors --data data.safetensors --epochs 3
    torchrun --nproc_per_node 4 {{FILE}} --data data.safetensors   # DistributedDataParallel

The weights are the safetensors file Glassbox saves (File > Export > Weights); training here
writes them back in the same form (--save), so Glassbox can open what PyTorch trained.
--data is a safetensors file with tensors "x" (inputs, as Glassbox feeds them) and "y"
(class ids, target values or next-token ids); without it the loop runs on random tensors.
"""

import argparse
import array
import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = {{INPUT_SHAPE}}  # one sample; the batch comes first
INPUT_IS_TOKENS = {{INPUT_IS_TOKENS}}
LOSS = "{{LOSS}}"  # cross_entropy | mse | bce
TARGET_IS_INPUT = {{TARGET_IS_INPUT}}  # an autoencoder learns to give back its input
SETTINGS = {{SETTINGS}}
# Glassbox tensor name -> the state_dict keys it fills. Where one Glassbox tensor is two in
# PyTorch (a recurrent layer's single bias), the first gets it and the rest are zeroed.
WEIGHT_MAP = {{WEIGHT_MAP}}


class PositionalEmbedding(nn.Module):
    """Adds a learned vector per position."""

    def __init__(self, max_len, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(max_len, dim) * 0.02)

    def forward(self, x):
        return x + self.weight[: x.shape[1]]


class SelfAttention(nn.Module):
    """Multi-head self-attention with a packed q/k/v projection (q, k, v, heads contiguous)."""

    def __init__(self, dim, heads, causal):
        super().__init__()
        self.heads, self.causal = heads, causal
        bound = 1.0 / math.sqrt(dim)
        self.qkv_weight = nn.Parameter(torch.empty(3 * dim, dim).uniform_(-bound, bound))
        self.qkv_bias = nn.Parameter(torch.empty(3 * dim).uniform_(-bound, bound))
        self.out_weight = nn.Parameter(torch.empty(dim, dim).uniform_(-bound, bound))
        self.out_bias = nn.Parameter(torch.empty(dim).uniform_(-bound, bound))

    def forward(self, x):
        b, t, d = x.shape
        qkv = F.linear(x, self.qkv_weight, self.qkv_bias)
        q, k, v = qkv.reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return F.linear(y.transpose(1, 2).reshape(b, t, d), self.out_weight, self.out_bias)


class Sampling(nn.Module):
    """A VAE's latent: means and log-variances in, a sample near the mean out (the mean when
    evaluating); the KL divergence from N(0, 1) is kept in .kl for the loss."""

    def __init__(self, beta):
        super().__init__()
        self.beta = beta
        self.kl = torch.zeros(())

    def forward(self, x):
        mean, logvar = x.chunk(2, dim=1)
        logvar = logvar.clamp(-20.0, 20.0)
        self.kl = 0.5 * (mean.pow(2) + logvar.exp() - logvar - 1.0).sum(1).mean()
        if not self.training:
            return mean
        return mean + (0.5 * logvar).exp() * torch.randn_like(mean)


class GlassboxModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleDict()
{{INIT}}

    def forward(self, x):
        m = self.layers
{{FORWARD}}

    def penalty(self):
        """Terms the layers add to the loss (a VAE's KL divergence, times its beta)."""
        terms = [mod.beta * mod.kl for mod in self.modules() if isinstance(mod, Sampling)]
        return sum(terms) if terms else 0.0


def read_safetensors(path):
    """The float32 tensors of a safetensors file (the format is an 8-byte header length, a
    JSON header, then the raw data), without the safetensors package."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {info['dtype']}, expected F32")
        start, end = info["data_offsets"]
        values = torch.frombuffer(bytearray(data[start:end]), dtype=torch.float32)
        tensors[name] = values.reshape(info["shape"])
    return tensors


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        blob = array.array("f", t.detach().cpu().float().flatten().tolist()).tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def load_glassbox_weights(model, path):
    tensors = read_safetensors(path)
    state = model.state_dict()
    missing = [name for name in WEIGHT_MAP if name not in tensors]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: was it saved from this project?")
    with torch.no_grad():
        for name, keys in WEIGHT_MAP.items():
            state[keys[0]].copy_(tensors[name].reshape(state[keys[0]].shape))
            for key in keys[1:]:
                state[key].zero_()


def glassbox_weights(model):
    state = model.state_dict()
    return {name: sum(state[k] for k in keys) for name, keys in WEIGHT_MAP.items()}


def build_model(weights=None):
    model = GlassboxModel()
    if weights:
        load_glassbox_weights(model, weights)
    return model


def loss_fn(out, y):
    if LOSS == "cross_entropy":
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1).long())
    if LOSS == "bce":
        return F.binary_cross_entropy_with_logits(out, y.reshape(out.shape).float())
    return F.mse_loss(out, y.reshape(out.shape).float())


def random_data(n):
    if INPUT_IS_TOKENS:
        x = torch.randint(0, {{VOCAB}}, (n, *INPUT_SHAPE)).float()
    else:
        x = torch.rand(n, *INPUT_SHAPE)
    with torch.no_grad():
        out = GlassboxModel().eval()(x)
    if LOSS == "cross_entropy":
        y = torch.randint(0, out.shape[-1], out.shape[:-1]).float()
    else:
        y = torch.rand(out.shape).round() if LOSS == "bce" else torch.randn(out.shape)
    return x, y


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", help="Glassbox safetensors weights to start from")
    p.add_argument("--data", help='safetensors file with "x" and "y"')
    p.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    p.add_argument("--batch-size", type=int, default=SETTINGS["batch_size"])
    p.add_argument("--lr", type=float, default=SETTINGS["lr"])
    p.add_argument("--save", default="trained.safetensors", help="where rank 0 writes the weights")
    p.add_argument("--check", action="store_true", help="print outputs for a random batch and stop")
    args = p.parse_args()

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = torch.distributed.get_rank() if distributed else 0
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(SETTINGS["seed"])

    model = build_model(args.weights).to(device)
    if args.check:
        x, _ = random_data(4)
        with torch.no_grad():
            print(model.eval()(x.to(device)))
        return
    if args.data:
        tensors = read_safetensors(args.data)
        x, y = tensors["x"], tensors["y"]
    else:
        if rank == 0:
            print("no --data given: training on random tensors to show the loop runs")
        x, y = random_data(256)
    if TARGET_IS_INPUT:
        y = x
    dataset = torch.utils.data.TensorDataset(x, y)
    sampler = torch.utils.data.DistributedSampler(dataset) if distributed else None
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=sampler is None, sampler=sampler)
    net = nn.parallel.DistributedDataParallel(model) if distributed else model
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        total, count = 0.0, 0
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = loss_fn(net(xb), yb) + model.penalty()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, count = total + loss.item() * len(xb), count + len(xb)
        if rank == 0:
            print(f"epoch {epoch + 1}: loss {total / max(count, 1):.4f}")
    if rank == 0:
        write_safetensors(args.save, glassbox_weights(model))
        print(f"saved {args.save}")
    if distributed:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
