"""Hand-written architectures for the zoo, in the style their authors publish them (Hugging Face modeling files,
super-resolution and audio papers' reference code): the constructs people trace, not ones picked to be easy."""
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- text: BERT-style encoder (HF modeling_bert)
class BertEmbeddings(nn.Module):
    def __init__(self, vocab, hidden, max_pos=64, type_vocab=2):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden, padding_idx=0)
        self.position_embeddings = nn.Embedding(max_pos, hidden)
        self.token_type_embeddings = nn.Embedding(type_vocab, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(0.1)
        self.register_buffer("position_ids", torch.arange(max_pos).expand((1, -1)))

    def forward(self, input_ids, token_type_ids):
        seq_length = input_ids.size(1)
        position_ids = self.position_ids[:, 0:seq_length]
        embeddings = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class BertSelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.num_attention_heads = heads
        self.attention_head_size = hidden // heads
        self.all_head_size = hidden
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(0.1)

    def transpose_for_scores(self, x):
        new_x_shape = x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)
        x = x.view(new_x_shape)
        return x.permute(0, 2, 1, 3)

    def forward(self, hidden_states, attention_mask):
        query_layer = self.transpose_for_scores(self.query(hidden_states))
        key_layer = self.transpose_for_scores(self.key(hidden_states))
        value_layer = self.transpose_for_scores(self.value(hidden_states))
        attention_scores = torch.matmul(query_layer, key_layer.transpose(-1, -2))
        attention_scores = attention_scores / math.sqrt(self.attention_head_size)
        attention_scores = attention_scores + attention_mask
        attention_probs = self.dropout(nn.functional.softmax(attention_scores, dim=-1))
        context_layer = torch.matmul(attention_probs, value_layer)
        context_layer = context_layer.permute(0, 2, 1, 3).contiguous()
        new_context_layer_shape = context_layer.size()[:-2] + (self.all_head_size,)
        return context_layer.view(new_context_layer_shape)


class BertLayer(nn.Module):
    def __init__(self, hidden, heads, inter):
        super().__init__()
        self.attention = BertSelfAttention(hidden, heads)
        self.attention_output = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.intermediate = nn.Linear(hidden, inter)
        self.output = nn.Linear(inter, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, hidden_states, attention_mask):
        a = self.attention(hidden_states, attention_mask)
        h = self.attention_norm(self.attention_output(a) + hidden_states)
        i = F.gelu(self.intermediate(h))
        return self.output_norm(self.output(i) + h)


class BertStyleEncoder(nn.Module):
    def __init__(self, vocab=100, hidden=32, heads=4, layers=2):
        super().__init__()
        self.embeddings = BertEmbeddings(vocab, hidden)
        self.layers = nn.ModuleList([BertLayer(hidden, heads, hidden * 4) for _ in range(layers)])
        self.pooler = nn.Linear(hidden, hidden)

    def forward(self, input_ids, attention_mask, token_type_ids):
        extended = attention_mask[:, None, None, :]
        extended = extended.to(dtype=torch.float32)
        extended = (1.0 - extended) * -10000.0
        h = self.embeddings(input_ids, token_type_ids)
        for layer in self.layers:
            h = layer(h, extended)
        pooled = torch.tanh(self.pooler(h[:, 0]))
        return h, pooled


# ---------------------------------------------------------------- text: GPT-2-style decoder (HF modeling_gpt2)
class Conv1D(nn.Module):
    """GPT-2's transposed linear layer."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.05)
        self.bias = nn.Parameter(torch.randn(nf) * 0.05)

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Gpt2Attention(nn.Module):
    def __init__(self, hidden, heads, max_pos):
        super().__init__()
        self.register_buffer("bias", torch.tril(torch.ones((max_pos, max_pos), dtype=torch.bool)).view(1, 1, max_pos, max_pos))
        self.register_buffer("masked_bias", torch.tensor(-1e4))
        self.num_heads = heads
        self.head_dim = hidden // heads
        self.c_attn = Conv1D(3 * hidden, hidden)
        self.c_proj = Conv1D(hidden, hidden)

    def _split_heads(self, tensor, num_heads: int, attn_head_size: int):
        new_shape = tensor.size()[:-1] + (num_heads, attn_head_size)
        return tensor.view(new_shape).permute(0, 2, 1, 3)

    def _merge_heads(self, tensor, num_heads: int, attn_head_size: int):
        tensor = tensor.permute(0, 2, 1, 3).contiguous()
        new_shape = tensor.size()[:-2] + (num_heads * attn_head_size,)
        return tensor.view(new_shape)

    def forward(self, hidden_states):
        query, key, value = self.c_attn(hidden_states).split(self.num_heads * self.head_dim, dim=2)
        query = self._split_heads(query, self.num_heads, self.head_dim)
        key = self._split_heads(key, self.num_heads, self.head_dim)
        value = self._split_heads(value, self.num_heads, self.head_dim)
        attn_weights = torch.matmul(query, key.transpose(-1, -2))
        attn_weights = attn_weights / torch.full([], float(value.size(-1)) ** 0.5, dtype=attn_weights.dtype)
        query_length, key_length = query.size(-2), key.size(-2)
        causal_mask = self.bias[:, :, key_length - query_length: key_length, :key_length]
        mask_value = self.masked_bias.to(attn_weights.dtype)
        attn_weights = torch.where(causal_mask, attn_weights.to(attn_weights.dtype), mask_value)
        attn_weights = nn.functional.softmax(attn_weights, dim=-1)
        attn_output = torch.matmul(attn_weights, value)
        attn_output = self._merge_heads(attn_output, self.num_heads, self.head_dim)
        return self.c_proj(attn_output)


class Gpt2Block(nn.Module):
    def __init__(self, hidden, heads, max_pos):
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden, eps=1e-5)
        self.attn = Gpt2Attention(hidden, heads, max_pos)
        self.ln_2 = nn.LayerNorm(hidden, eps=1e-5)
        self.c_fc = Conv1D(4 * hidden, hidden)
        self.c_proj = Conv1D(hidden, 4 * hidden)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(gelu_new(self.c_fc(self.ln_2(x))))


class Gpt2StyleDecoder(nn.Module):
    def __init__(self, vocab=120, hidden=32, heads=4, layers=2, max_pos=32):
        super().__init__()
        self.wte = nn.Embedding(vocab, hidden)
        self.wpe = nn.Embedding(max_pos, hidden)
        self.h = nn.ModuleList([Gpt2Block(hidden, heads, max_pos) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(hidden)

    def forward(self, input_ids):
        input_shape = input_ids.size()
        position_ids = torch.arange(0, input_shape[-1], dtype=torch.long, device=input_ids.device)
        position_ids = position_ids.unsqueeze(0).view(-1, input_shape[-1])
        h = self.wte(input_ids) + self.wpe(position_ids)
        for block in self.h:
            h = block(h)
        h = self.ln_f(h)
        return F.linear(h, self.wte.weight)  # tied LM head


# ---------------------------------------------------------------- text: LLaMA-style decoder (RMSNorm, RoPE, SwiGLU)
class RmsNorm(nn.Module):
    def __init__(self, hidden, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden) + 0.1 * torch.randn(hidden))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        variance = hidden_states.to(torch.float32).pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class LlamaAttention(nn.Module):
    def __init__(self, hidden, heads, max_pos=64):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.q_proj = nn.Linear(hidden, hidden, bias=False)
        self.k_proj = nn.Linear(hidden, hidden, bias=False)
        self.v_proj = nn.Linear(hidden, hidden, bias=False)
        self.o_proj = nn.Linear(hidden, hidden, bias=False)
        inv_freq = 1.0 / (10000 ** (torch.arange(0, self.head_dim, 2).float() / self.head_dim))
        t = torch.arange(max_pos, dtype=inv_freq.dtype)
        freqs = torch.einsum("i,j->ij", t, inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos_cached", emb.cos()[None, None, :, :])
        self.register_buffer("sin_cached", emb.sin()[None, None, :, :])

    def forward(self, x):
        bsz, q_len, _ = x.size()
        q = self.q_proj(x).view(bsz, q_len, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(bsz, q_len, self.heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(bsz, q_len, self.heads, self.head_dim).transpose(1, 2)
        cos = self.cos_cached[:, :, :q_len, ...]
        sin = self.sin_cached[:, :, :q_len, ...]
        q = (q * cos) + (rotate_half(q) * sin)
        k = (k * cos) + (rotate_half(k) * sin)
        w = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
        mask = torch.full((q_len, q_len), torch.finfo(w.dtype).min)
        mask = torch.triu(mask, diagonal=1)
        w = w + mask[None, None, :, :]
        w = F.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
        out = torch.matmul(w, v).transpose(1, 2).reshape(bsz, q_len, -1)
        return self.o_proj(out)


class LlamaMlp(nn.Module):
    def __init__(self, hidden, inter):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, inter, bias=False)
        self.up_proj = nn.Linear(hidden, inter, bias=False)
        self.down_proj = nn.Linear(inter, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaStyleDecoder(nn.Module):
    def __init__(self, vocab=90, hidden=32, heads=4, layers=2):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, hidden)
        self.layers = nn.ModuleList()
        for _ in range(layers):
            self.layers.append(nn.ModuleDict({"input_layernorm": RmsNorm(hidden), "self_attn": LlamaAttention(hidden, heads),
                                              "post_attention_layernorm": RmsNorm(hidden), "mlp": LlamaMlp(hidden, 64)}))
        self.norm = RmsNorm(hidden)
        self.lm_head = nn.Linear(hidden, vocab, bias=False)

    def forward(self, input_ids):
        h = self.embed_tokens(input_ids)
        for layer in self.layers:
            h = h + layer["self_attn"](layer["input_layernorm"](h))
            h = h + layer["mlp"](layer["post_attention_layernorm"](h))
        return self.lm_head(self.norm(h))


# ---------------------------------------------------------------- text: T5 relative position buckets
class T5RelativeBias(nn.Module):
    def __init__(self, vocab=80, hidden=32, heads=4, buckets=8, max_distance=16):
        super().__init__()
        self.heads = heads
        self.buckets = buckets
        self.max_distance = max_distance
        self.embed = nn.Embedding(vocab, hidden)
        self.relative_attention_bias = nn.Embedding(buckets, heads)
        self.q = nn.Linear(hidden, hidden, bias=False)
        self.k = nn.Linear(hidden, hidden, bias=False)
        self.v = nn.Linear(hidden, hidden, bias=False)
        self.o = nn.Linear(hidden, hidden, bias=False)

    def _relative_position_bucket(self, relative_position):
        num_buckets = self.buckets // 2
        relative_buckets = (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
        max_exact = num_buckets // 2
        is_small = relative_position < max_exact
        relative_position_if_large = max_exact + (
            torch.log(relative_position.float() / max_exact)
            / math.log(self.max_distance / max_exact)
            * (num_buckets - max_exact)
        ).to(torch.long)
        relative_position_if_large = torch.min(
            relative_position_if_large, torch.full_like(relative_position_if_large, num_buckets - 1))
        relative_buckets += torch.where(is_small, relative_position, relative_position_if_large)
        return relative_buckets

    def forward(self, input_ids):
        h = self.embed(input_ids)
        b, n, d = h.shape
        context_position = torch.arange(n, dtype=torch.long)[:, None]
        memory_position = torch.arange(n, dtype=torch.long)[None, :]
        bucket = self._relative_position_bucket(memory_position - context_position)
        bias = self.relative_attention_bias(bucket).permute([2, 0, 1]).unsqueeze(0)
        q = self.q(h).view(b, n, self.heads, -1).transpose(1, 2)
        k = self.k(h).view(b, n, self.heads, -1).transpose(1, 2)
        v = self.v(h).view(b, n, self.heads, -1).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(3, 2)) + bias
        w = F.softmax(scores.float(), dim=-1).type_as(scores)
        out = torch.matmul(w, v).transpose(1, 2).contiguous().view(b, -1, d)
        return self.o(out)


# ---------------------------------------------------------------- text: CLIP-style text encoder (argmax pooling)
class ClipStyleTextEncoder(nn.Module):
    def __init__(self, vocab=64, width=32, heads=4, ctx=10):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.positional_embedding = nn.Parameter(torch.randn(ctx, width) * 0.01)
        layer = nn.TransformerEncoderLayer(width, heads, width * 4, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.randn(width, 16) * 0.1)
        self.register_buffer("attn_mask", torch.empty(ctx, ctx).fill_(float("-inf")).triu_(1))

    def forward(self, text):
        x = self.token_embedding(text) + self.positional_embedding
        x = self.transformer(x, mask=self.attn_mask)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection


# ---------------------------------------------------------------- text: DeBERTa-style disentangled attention (HF modeling_deberta_v2)
class DisentangledSelfAttention(nn.Module):
    """Content-to-content plus content-to-position and position-to-content scores, gathered by clamped relative
    distance; the padded keys masked with finfo.min and the probabilities zeroed there (~mask)."""

    def __init__(self, hidden=48, heads=4, span=8):
        super().__init__()
        self.heads, self.head_dim, self.span = heads, hidden // heads, span
        self.query_proj = nn.Linear(hidden, hidden)
        self.key_proj = nn.Linear(hidden, hidden)
        self.value_proj = nn.Linear(hidden, hidden)
        self.pos_key_proj = nn.Linear(hidden, hidden)
        self.pos_query_proj = nn.Linear(hidden, hidden)
        self.rel_embeddings = nn.Embedding(2 * span, hidden)
        self.dense = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden)

    def heads_first(self, x):
        b, s, _ = x.size()
        return x.view(b, s, self.heads, self.head_dim).permute(0, 2, 1, 3).reshape(b * self.heads, s, self.head_dim)

    def forward(self, hidden, mask):
        b, s, _ = hidden.size()
        q = self.heads_first(self.query_proj(hidden))
        k = self.heads_first(self.key_proj(hidden))
        v = self.heads_first(self.value_proj(hidden))
        scale = math.sqrt(self.head_dim * 3)
        scores = torch.bmm(q, k.transpose(-1, -2) / scale)
        positions = torch.arange(s, dtype=torch.long)
        relative = positions[:, None] - positions[None, :]
        rel = self.rel_embeddings.weight[: 2 * self.span, :].unsqueeze(0)
        pos_key = self.heads_first(self.pos_key_proj(rel).repeat(b, 1, 1))
        pos_query = self.heads_first(self.pos_query_proj(rel).repeat(b, 1, 1))
        c2p_index = torch.clamp(relative + self.span, 0, 2 * self.span - 1).expand([q.size(0), s, s])
        c2p = torch.gather(torch.bmm(q, pos_key.transpose(-1, -2)), dim=-1, index=c2p_index)
        p2c_index = torch.clamp(-relative + self.span, 0, 2 * self.span - 1).expand([k.size(0), s, s])
        p2c = torch.gather(torch.bmm(k, pos_query.transpose(-1, -2)), dim=-1, index=p2c_index).transpose(-1, -2)
        scores = (scores + (c2p + p2c) / scale).view(b, self.heads, s, s)
        keep = mask[:, None, None, :].bool()
        scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
        probs = F.softmax(scores, -1).masked_fill(~keep, 0.0)
        context = torch.bmm(probs.view(b * self.heads, s, s), v)
        context = context.view(b, self.heads, s, self.head_dim).permute(0, 2, 1, 3).reshape(b, s, -1)
        return self.norm(self.dense(context) + hidden)


class DebertaStyleEncoder(nn.Module):
    def __init__(self, vocab=90, hidden=48, layers=2):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList([DisentangledSelfAttention(hidden) for _ in range(layers)])

    def forward(self, input_ids, attention_mask):
        x = self.norm(self.word_embeddings(input_ids)) * attention_mask.unsqueeze(-1).to(torch.float32)
        for layer in self.layers:
            x = layer(x, attention_mask)
        return x


# ---------------------------------------------------------------- Swin-style window attention with a bias table
def window_partition(x, window_size: int):
    B, H, W, C = x.shape
    x = x.view(B, H // window_size, window_size, W // window_size, window_size, C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size, window_size, C)


def window_reverse(windows, window_size: int, H: int, W: int):
    B = int(windows.shape[0] / (H * W / window_size / window_size))
    x = windows.view(B, H // window_size, W // window_size, window_size, window_size, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(B, H, W, -1)


class SwinWindowAttention(nn.Module):
    def __init__(self, dim=32, window=4, heads=4, shift=2):
        super().__init__()
        self.window = window
        self.shift = shift
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.norm = nn.LayerNorm(dim)
        self.relative_position_bias_table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads) * 0.1)
        coords = torch.stack(torch.meshgrid([torch.arange(window), torch.arange(window)], indexing="ij"))
        flat = torch.flatten(coords, 1)
        rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
        rel[:, :, 0] += window - 1
        rel[:, :, 1] += window - 1
        rel[:, :, 0] *= 2 * window - 1
        self.register_buffer("relative_position_index", rel.sum(-1))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 0.5))  # layer scale

    def forward(self, x):
        B, H, W, C = x.shape
        shortcut = x
        x = self.norm(x)
        x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        windows = window_partition(x, self.window).view(-1, self.window * self.window, C)
        Bw, N, _ = windows.shape
        qkv = self.qkv(windows).reshape(Bw, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(N, N, -1)
        attn = attn + bias.permute(2, 0, 1).contiguous().unsqueeze(0)
        attn = attn.softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(Bw, N, C)
        out = self.proj(out).view(-1, self.window, self.window, C)
        x = window_reverse(out, self.window, H, W)
        x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        return shortcut + self.gamma * x


# ---------------------------------------------------------------- attention through PyTorch's fused kernel
class SdpaBlock(nn.Module):
    def __init__(self, dim=32, heads=4):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        causal, _ = F._scaled_dot_product_attention(q, k, v, None, 0.0, False, True)
        mask = torch.ones(n, n, dtype=torch.bool).tril()
        masked, _ = F._scaled_dot_product_attention(q, k, v, mask, 0.0, False, False)
        plain, _ = F._scaled_dot_product_attention(q, k, v)
        y = (causal + masked + plain).transpose(1, 2).reshape(b, n, d)
        return self.out(y)


class PerceiverEinsum(nn.Module):
    def __init__(self, dim=24, latents=6):
        super().__init__()
        self.latents = nn.Parameter(torch.randn(latents, dim))
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        k, v = self.to_k(x), self.to_v(x)
        q = self.latents.unsqueeze(0).expand(x.shape[0], -1, -1)
        sim = torch.einsum("bid,bjd->bij", q, k) * (x.shape[-1] ** -0.5)
        attn = sim.softmax(dim=-1)
        out = torch.einsum("bij,bjd->bid", attn, v)
        return self.norm(out + q)


# ---------------------------------------------------------------- MLP-Mixer
class MixerBlock(nn.Module):
    def __init__(self, tokens, dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.token_mlp = nn.Sequential(nn.Linear(tokens, tokens * 2), nn.GELU(), nn.Linear(tokens * 2, tokens))
        self.norm2 = nn.LayerNorm(dim)
        self.channel_mlp = nn.Sequential(nn.Linear(dim, dim * 2), nn.GELU(), nn.Linear(dim * 2, dim))

    def forward(self, x):
        x = x + self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.norm2(x))


class MixerNet(nn.Module):
    def __init__(self, dim=32, patch=8, size=32):
        super().__init__()
        self.stem = nn.Conv2d(3, dim, patch, patch)
        self.blocks = nn.Sequential(*[MixerBlock((size // patch) ** 2, dim) for _ in range(2)])
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        x = self.stem(x).flatten(2).transpose(1, 2)
        x = self.blocks(x)
        return self.head(x.mean(dim=1))


# ---------------------------------------------------------------- decoders with upsampling
class DoubleConv(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TinyUnet(nn.Module):
    """The classic UNet: transposed-convolution upsampling, skip concatenation, size-fixing pad."""

    def __init__(self, c=8, classes=3):
        super().__init__()
        self.inc = DoubleConv(3, c)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(c, 2 * c))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(2 * c, 4 * c))
        self.up1 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.conv1 = DoubleConv(4 * c, 2 * c)
        self.up2 = nn.ConvTranspose2d(2 * c, c, 3, stride=2, padding=1, output_padding=1, groups=c)
        self.conv2 = DoubleConv(2 * c, c)
        self.outc = nn.Conv2d(c, classes, 1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        u = self.up1(x3)
        dy, dx = x2.size()[2] - u.size()[2], x2.size()[3] - u.size()[3]
        u = F.pad(u, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        u = self.conv1(torch.cat([x2, u], dim=1))
        u = self.up2(u)
        u = self.conv2(torch.cat([x1, u], dim=1))
        return self.outc(u)


class UnetBilinear(nn.Module):
    """Bilinear-upsampling UNet decoder (align_corners=True, as milesial/Pytorch-UNet), plus a bicubic and a
    scale-factor head."""

    def __init__(self, c=8):
        super().__init__()
        self.inc = DoubleConv(3, c)
        self.down = nn.Sequential(nn.MaxPool2d(2), DoubleConv(c, 2 * c))
        self.down2 = nn.Sequential(nn.AvgPool2d(2), DoubleConv(2 * c, 2 * c))
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv = DoubleConv(3 * c, c)
        self.out = nn.Conv2d(c, 2, 1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down(x1)
        x3 = self.down2(x2)
        x2 = x2 + F.interpolate(x3, size=x2.shape[-2:], mode="bilinear", align_corners=False)
        u = self.conv(torch.cat([x1, self.up(x2)], dim=1))
        y = self.out(u)
        z = F.interpolate(y, scale_factor=0.5, mode="bicubic", align_corners=False, recompute_scale_factor=True)
        return y + F.interpolate(z, size=(x.shape[2], x.shape[3]), mode="nearest")


class Espcn(nn.Module):
    """Efficient sub-pixel CNN (Shi et al. 2016) for x3 super-resolution."""

    def __init__(self, scale=3):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 32, 5, padding=2), nn.Tanh(), nn.Conv2d(32, 16, 3, padding=1), nn.Tanh(),
                                  nn.Conv2d(16, scale * scale, 3, padding=1))
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x):
        return torch.sigmoid(self.shuffle(self.body(x)))


class SpaceToDepthNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.PixelUnshuffle(2)
        self.body = nn.Conv2d(12, 48, 3, padding=1)
        self.up = nn.PixelShuffle(4)

    def forward(self, x):
        y = self.up(F.leaky_relu(self.body(self.down(x)), 0.2))
        return F.interpolate(y, scale_factor=0.5, mode="area")


class ResidualIn(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3)
        self.n1 = nn.InstanceNorm2d(c, affine=True)
        self.c2 = nn.Conv2d(c, c, 3)
        self.n2 = nn.InstanceNorm2d(c, affine=True)

    def forward(self, x):
        y = F.relu(self.n1(self.c1(F.pad(x, [1, 1, 1, 1], mode="reflect"))))
        y = self.n2(self.c2(F.pad(y, [1, 1, 1, 1], mode="replicate")))
        return x + y


class StyleTransferNet(nn.Module):
    """Johnson et al. fast style transfer: reflection padding, instance norm, nearest upsampling."""

    def __init__(self, c=8):
        super().__init__()
        self.pad = nn.ReflectionPad2d(4)
        self.c1 = nn.Conv2d(3, c, 9)
        self.n1 = nn.InstanceNorm2d(c, affine=True)
        self.c2 = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
        self.n2 = nn.GroupNorm(4, 2 * c)
        self.res = nn.Sequential(ResidualIn(2 * c), ResidualIn(2 * c))
        self.c3 = nn.Conv2d(2 * c, c, 3, padding=1)
        self.out = nn.Conv2d(c, 3, 9, padding=4, padding_mode="reflect")

    def forward(self, x):
        y = F.relu(self.n1(self.c1(self.pad(x))))
        y = F.relu(self.n2(self.c2(y)))
        y = self.res(y)
        y = F.interpolate(y, scale_factor=2, mode="nearest")
        y = F.relu(self.c3(y))
        return torch.tanh(self.out(y))


class YoloStyleHead(nn.Module):
    """A YOLOv5-style neck and decode: SiLU convs, nearest upsampling by 2, concatenation, sigmoid box decode on a
    grid."""

    def __init__(self, c=16, anchors=3, classes=4):
        super().__init__()
        self.no = classes + 5
        self.na = anchors
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, 2, 1), nn.BatchNorm2d(c), nn.SiLU())
        self.p4 = nn.Sequential(nn.Conv2d(c, 2 * c, 3, 2, 1), nn.BatchNorm2d(2 * c), nn.SiLU())
        self.p5 = nn.Sequential(nn.Conv2d(2 * c, 4 * c, 3, 2, 1), nn.BatchNorm2d(4 * c), nn.SiLU())
        self.lat = nn.Conv2d(4 * c, 2 * c, 1)
        self.up = nn.Upsample(None, 2, "nearest")
        self.fuse = nn.Sequential(nn.Conv2d(4 * c, 2 * c, 3, 1, 1), nn.SiLU())
        self.m = nn.Conv2d(2 * c, self.no * self.na, 1)
        self.register_buffer("anchor_grid", torch.rand(1, anchors, 1, 1, 2) * 4 + 1)
        self.stride = 8.0

    def forward(self, x):
        p4 = self.p4(self.stem(x))
        p5 = self.p5(p4)
        f = self.fuse(torch.cat([self.up(self.lat(p5)), p4], 1))
        y = self.m(f)
        bs, _, ny, nx = y.shape
        y = y.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous().sigmoid()
        yv, xv = torch.meshgrid([torch.arange(ny), torch.arange(nx)], indexing="ij")
        grid = torch.stack((xv, yv), 2).view((1, 1, ny, nx, 2)).float()
        xy = (y[..., 0:2] * 2 - 0.5 + grid) * self.stride
        wh = (y[..., 2:4] * 2) ** 2 * self.anchor_grid
        return torch.cat((xy, wh, y[..., 4:]), -1).view(bs, -1, self.no)


# ---------------------------------------------------------------- audio
class Wav2Vec2StyleEncoder(nn.Module):
    """wav2vec 2.0's feature extractor (group-norm first layer, GELU), feature projection and a transformer layer with
    the convolutional positional embedding (grouped, even kernel, last frame removed)."""

    def __init__(self, dim=32):
        super().__init__()
        self.conv0 = nn.Conv1d(1, dim, 10, 5, bias=False)
        self.norm0 = nn.GroupNorm(dim, dim, affine=True)
        self.convs = nn.ModuleList([nn.Conv1d(dim, dim, 3, 2, bias=False) for _ in range(3)])
        self.layer_norm = nn.LayerNorm(dim)
        self.projection = nn.Linear(dim, dim)
        self.pos_conv = nn.Conv1d(dim, dim, kernel_size=8, padding=4, groups=4)
        self.encoder_norm = nn.LayerNorm(dim)
        self.layer = nn.TransformerEncoderLayer(dim, 4, dim * 2, dropout=0.0, activation="gelu", batch_first=True)

    def forward(self, input_values):
        x = input_values[:, None]
        x = F.gelu(self.norm0(self.conv0(x)))
        for conv in self.convs:
            x = F.gelu(conv(x))
        x = x.transpose(1, 2)
        x = self.projection(self.layer_norm(x))
        pos = self.pos_conv(x.transpose(1, 2))
        pos = pos[:, :, :-1]
        x = x + F.gelu(pos).transpose(1, 2)
        return self.layer(self.encoder_norm(x))


class CrnnKeywordSpotter(nn.Module):
    def __init__(self, classes=12):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.MaxPool2d((2, 1)), nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.AdaptiveMaxPool2d((4, None)))
        self.gru = nn.GRU(64, 32, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(64, classes)

    def forward(self, mel):
        x = self.conv(mel)
        b, c, f, t = x.shape
        x = x.permute(0, 3, 1, 2).reshape(b, t, c * f)
        out, _ = self.gru(x)
        return F.log_softmax(self.fc(out[:, -1]), dim=-1)


class Resnet1dAudio(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(1, 16, 80, 4, padding=38), nn.BatchNorm1d(16), nn.ReLU(), nn.MaxPool1d(4))
        self.b1 = nn.Sequential(nn.Conv1d(16, 16, 3, padding=1), nn.BatchNorm1d(16), nn.ReLU(), nn.Conv1d(16, 16, 3, padding=1),
                                nn.BatchNorm1d(16))
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(16, 8)

    def forward(self, x):
        x = self.stem(x)
        x = F.relu(x + self.b1(x))
        return self.fc(self.pool(x).squeeze(-1))


# ---------------------------------------------------------------- routing and op families
class MoeRouter(nn.Module):
    """A mixture-of-experts router: top-k over gate logits, renormalized weights, gathered expert outputs, plus sort,
    cumsum and a masked fill."""

    def __init__(self, dim=16, experts=4, k=2):
        super().__init__()
        self.k = k
        self.gate = nn.Linear(dim, experts, bias=False)
        self.experts = nn.Linear(dim, dim * experts)
        self.experts_n = experts

    def forward(self, x):
        b, n, d = x.shape
        logits = self.gate(x)
        weights, idx = torch.topk(logits.softmax(dim=-1), self.k, dim=-1)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        expert_out = self.experts(x).view(b, n, self.experts_n, d)
        picked = torch.gather(expert_out, 2, idx.unsqueeze(-1).expand(b, n, self.k, d))
        y = (picked * weights.unsqueeze(-1)).sum(dim=2)
        ranked, order = torch.sort(logits, dim=-1, descending=True)
        load = torch.cumsum(ranked.softmax(-1), dim=-1)
        y = y.masked_fill(y.abs() < 0.01, 0.0)
        first = torch.argmax(logits, dim=-1, keepdim=True).float()
        chosen = torch.index_select(y, 2, torch.tensor([0, 2, 4]))
        return y, load, order, first, chosen


class OpsMix(nn.Module):
    """Ops from the long tail, each in the form PyTorch traces it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.deconv = nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, output_padding=1, groups=4, dilation=1)
        self.amax = nn.AdaptiveMaxPool2d((5, 3))
        self.inorm = nn.InstanceNorm2d(8)
        self.gn = nn.GroupNorm(2, 8)
        self.ln_scale = nn.Parameter(torch.randn(8, 1, 1))

    def forward(self, x):
        y = self.conv(x)
        y = self.gn(self.deconv(y))
        a = self.amax(y)
        z = F.pad(y, (1, 2, 0, 1), mode="constant", value=0.5)
        z = F.pad(z, (2, 2, 1, 1), mode="replicate")
        r = torch.roll(z, shifts=3, dims=3)
        w = torch.where(r > 0, r, r * 0.1)
        w = self.inorm(w) * self.ln_scale
        t = y.repeat(1, 1, 2, 1)[:, :, :5, :3] + a.expand(-1, -1, -1, -1)
        flat = torch.flatten(w, 2).cumsum(dim=-1)
        vals, _ = torch.sort(flat[..., :16], dim=-1)
        idx = torch.tensor([1, 3, 5])
        picked = w[:, idx]
        tiled = torch.tile(t, (1, 1, 1, 2))
        return w, t, vals, picked.sum(dim=1), tiled, F.adaptive_max_pool1d(flat, 7)


class IndexPutNet(nn.Module):
    """Masks built by writing into a fresh tensor (x[idx] = v, x[1, idx] = v: index_put_ on a constant) and a
    functional index_put on an activation."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 6)

    def forward(self, x):
        mask = torch.zeros(4, 6)
        mask[torch.tensor([0, 2, 3])] = 1.0
        mask[1, torch.tensor([1, 4])] = 2.0
        y = self.proj(x).transpose(0, 1)
        y = y.index_put((torch.tensor([0, 3]),), torch.arange(6.0))
        return y.transpose(0, 1) * mask



class TorchEncoderWithPadding(nn.Module):
    """A sentence encoder built from torch.nn's own TransformerEncoder with a key padding mask and masked mean pooling,
    as plain-PyTorch BERT-style models are written. In eval PyTorch turns the padded batch into a nested tensor
    (traced: _nested_tensor_from_mask ... to_padded_tensor, padded positions come out 0) or passes the mask to the
    fused layer (scripted: padded positions are computed) — so the two agree only where tokens are, hence the pooling."""

    def __init__(self, vocab=100, d=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, 4, 64, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        h = self.enc(self.emb(input_ids), src_key_padding_mask=attention_mask == 0)
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(1) / m.sum(1)


class TorchCausalDecoder(nn.Module):
    """torch.nn's TransformerDecoder with a causal mask over its own tokens and cross-attention to a memory."""

    def __init__(self, vocab=100, d=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        layer = nn.TransformerDecoderLayer(d, 4, 64, dropout=0.0, batch_first=True)
        self.dec = nn.TransformerDecoder(layer, 2)
        self.out = nn.Linear(d, vocab)

    def forward(self, input_ids: torch.Tensor, memory: torch.Tensor):
        n = input_ids.size(1)
        causal = torch.triu(torch.full((n, n), float("-inf")), diagonal=1)
        return self.out(self.dec(self.emb(input_ids), memory, tgt_mask=causal))


class TorchMhaWithPadding(nn.Module):
    """torch.nn.MultiheadAttention with a key padding mask (its fused path in eval) and masked mean pooling."""

    def __init__(self, vocab=100, d=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.attn = nn.MultiheadAttention(d, 4, batch_first=True)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        h = self.emb(input_ids)
        a, _ = self.attn(h, h, h, key_padding_mask=attention_mask == 0, need_weights=False)
        m = attention_mask.unsqueeze(-1).to(a.dtype)
        return (a * m).sum(1) / m.sum(1)
