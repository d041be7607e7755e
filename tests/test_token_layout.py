import pytest
import torch

from latentcodec.token_layout import TokenLayout


@pytest.mark.parametrize("interleave", ["flatten", "delay"])
def test_round_trip_is_exact(interleave):
    layout = TokenLayout({"image": [4096], "audio": [1024, 1024, 1024, 1024]}, interleave)
    torch.manual_seed(0)
    image = torch.randint(0, 4096, (1, 32))
    audio = torch.randint(0, 1024, (4, 50))
    ids = layout.sequence([("image", image), ("audio", audio), ("audio", audio[:, :1])])
    assert ids.max() < layout.vocab_size and ids.min() >= 0
    decoded = layout.decode(ids)
    assert [m for m, _ in decoded] == ["image", "audio", "audio"]
    assert torch.equal(decoded[0][1], image) and torch.equal(decoded[1][1], audio) and torch.equal(decoded[2][1], audio[:, :1])
    empty = layout.decode(layout.encode("audio", torch.zeros(4, 0, dtype=torch.long)))
    assert empty[0][1].shape == (4, 0)
    assert TokenLayout.from_dict(layout.to_dict()).vocab_size == layout.vocab_size


def test_ids_are_laid_out_as_documented():
    layout = TokenLayout({"audio": [10, 20]}, "flatten")
    assert layout.specials == ("<pad>", "<bos>", "<eos>", "<audio>", "</audio>")
    assert (layout.offset("audio", 0), layout.offset("audio", 1), layout.vocab_size) == (5, 15, 35)
    tokens = torch.tensor([[1, 2, 3], [4, 5, 6]])
    assert layout.encode("audio", tokens).tolist() == [3, 6, 19, 7, 20, 8, 21, 4]
    delayed = TokenLayout({"audio": [10, 20]}, "delay")
    # step s holds frame s of codebook 0 and frame s - 1 of codebook 1
    assert delayed.encode("audio", tokens).tolist() == [3, 6, 0, 7, 19, 8, 20, 0, 21, 4]


def test_bad_tokens_and_ids_raise_saying_where():
    layout = TokenLayout({"image": [16], "audio": [8, 8]}, "delay")
    with pytest.raises(ValueError, match="token 16 at codebook 0, frame 2"):
        layout.encode("image", torch.tensor([1, 2, 16]))
    with pytest.raises(ValueError, match=r"must be \[2, frames\]"):
        layout.encode("audio", torch.zeros(3, 4, dtype=torch.long))
    good = layout.encode("audio", torch.tensor([[1, 2, 3], [4, 5, 6]]))
    with pytest.raises(ValueError, match="no end marker"):
        layout.decode(good[:-1])
    with pytest.raises(ValueError, match="does not follow the delay pattern"):
        layout.decode(torch.cat([good[:1], good[1:-1].roll(1), good[-1:]]))
    swapped = good.clone()
    swapped[3], swapped[4] = swapped[4].clone(), swapped[3].clone()
    with pytest.raises(ValueError):
        layout.decode(swapped)
    with pytest.raises(ValueError, match="not a modality's begin marker"):
        layout.decode(torch.tensor([layout.offset("image") + 3]))
