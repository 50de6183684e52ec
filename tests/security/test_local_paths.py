"""A catalogue's picture files stay inside the folder its pictures were given in (common.pathguard):
an absolute path elsewhere, a path climbing out with `..` and a picture that is a symlink out of
the folder are skipped unread by `python -m embed build` (unless `--images-root` widens the folder),
a catalogue of nothing but such paths is refused with one line, and the app's pages show no
picture file from outside a workspace's folder (st.image would serve whatever path it is given).
Real files, real symlinks, the real embed job in its own process."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from embed.index import load as load_index
from recommend.workspace import model
from tests.helpers import encode, product_picture

ROOT = Path(__file__).resolve().parents[2]


def embed(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "embed", "build", "--weights", "none", "--quiet", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def picture(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(product_picture(seed)))
    return path


@pytest.fixture
def shop(tmp_path):
    """shop/catalogue.csv naming: 1 its own picture; 2 an absolute path out of shop/; 3 `../`
    out of it; 4 a picture inside that is a symlink to one outside. The outside pictures are
    real, readable pictures, so only the guard keeps them out."""
    picture(tmp_path / "shop" / "images" / "1.jpg", 1)
    for i in (2, 3, 4):
        picture(tmp_path / "elsewhere" / f"{i}.jpg", i)
    (tmp_path / "shop" / "images" / "4.jpg").symlink_to(tmp_path / "elsewhere" / "4.jpg")
    catalogue = tmp_path / "shop" / "catalogue.csv"
    pd.DataFrame({"id": ["1", "2", "3", "4"],
                  "image": ["images/1.jpg", str(tmp_path / "elsewhere" / "2.jpg"), "../elsewhere/3.jpg",
                            "images/4.jpg"]}).to_csv(catalogue, index=False)
    return tmp_path, catalogue


def test_a_catalogue_reads_no_picture_from_outside_its_folder(shop):
    tmp_path, catalogue = shop
    done = embed("--catalogue", catalogue, "--out", tmp_path / "index")
    assert done.returncode == 0, done.stderr
    index = load_index(tmp_path / "index")
    assert list(index.items["id"]) == ["1"]
    skipped = {s["id"]: s["reason"] for s in index.manifest["skipped"]}
    assert set(skipped) == {"2", "3", "4"}
    assert all(f"outside the images folder {tmp_path / 'shop'}" in why and "--images-root" in why
               for why in skipped.values())
    assert index.manifest["images_root"] == str((tmp_path / "shop").resolve())


def test_images_root_lets_a_shop_name_a_wider_folder(shop):
    tmp_path, catalogue = shop
    done = embed("--catalogue", catalogue, "--out", tmp_path / "index", "--images-root", tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(load_index(tmp_path / "index").items["id"]) == ["1", "2", "3", "4"]


def test_a_catalogue_of_paths_out_of_its_folder_is_refused_in_one_line(tmp_path):
    catalogue = tmp_path / "shop" / "catalogue.csv"
    catalogue.parent.mkdir()
    pd.DataFrame({"id": ["1", "2"], "image": ["/etc/passwd", "../../../../../../etc/hostname"]}).to_csv(catalogue,
                                                                                                    index=False)
    done = embed("--catalogue", catalogue, "--out", tmp_path / "index")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: All 2 pictures are outside the images folder") and "--images-root" in last
    assert not (tmp_path / "index").exists()


def test_an_images_folder_with_a_symlink_out_of_it_skips_that_picture(tmp_path):
    images = tmp_path / "images"
    picture(images / "1.jpg", 1)
    (images / "2.jpg").symlink_to(picture(tmp_path / "private" / "secret.jpg", 2))
    done = embed("--images", images, "--out", tmp_path / "index")
    assert done.returncode == 0, done.stderr
    index = load_index(tmp_path / "index")
    assert list(index.items["id"]) == ["1"]
    assert [s["id"] for s in index.manifest["skipped"]] == ["2"]


ORDERS = pd.DataFrame([(f"O{o}", f"C{o % 5}", str(1 + (o + k) % 4)) for o in range(40) for k in (0, 1)],
                      columns=["order", "customer", "item"])


def test_a_workspace_embeds_and_shows_only_pictures_under_its_catalogues_folder(shop):
    from ui import pictures

    tmp_path, catalogue = shop
    table = pd.read_csv(catalogue, dtype=str)
    mapped = model.mapped_catalogue(table, {"id": "id", "image": "image"}, image_base=catalogue.parent)
    orders = model.mapped_orders(ORDERS, {"order": "order", "customer": "customer", "item": "item"})
    ws = model.build(orders, "guarded", source={"file": "x"}, catalogue=mapped, artifacts=tmp_path / "artifacts",
                     weights="none")
    assert list(load_index(ws.part("visual_index")).items["id"]) == ["1"]
    shown = pictures.of(ws)
    assert shown.of("1") == str((tmp_path / "shop" / "images" / "1.jpg").resolve())
    assert [shown.of(i) for i in ("2", "3", "4")] == [None, None, None]


def test_a_catalogue_uploaded_in_the_app_names_no_file_on_the_server(tmp_path, monkeypatch):
    """The Your data page maps an upload with settings.IMAGES_ROOT (VITRINE_IMAGES_ROOT), unset here."""
    from ui import pictures

    secret = picture(tmp_path / "private" / "1.jpg", 1)
    upload = pd.DataFrame({"id": ["1", "2"], "image": [str(secret), "/etc/passwd"]})
    mapped = model.mapped_catalogue(upload, {"id": "id", "image": "image"})
    orders = model.mapped_orders(ORDERS, {"order": "order", "customer": "customer", "item": "item"})
    ws = model.build(orders, "uploaded", source={"upload": "c.csv"}, catalogue=mapped,
                     artifacts=tmp_path / "artifacts", weights="none")
    assert "VITRINE_IMAGES_ROOT" in ws.manifest["parts_skipped"].get("visual_index", "")
    assert "visual_index" not in ws.parts
    shown = pictures.of(ws)
    assert shown.of("1") is None and shown.of("2") is None


class _Stop(Exception):
    pass


def test_int8_calibration_reads_no_picture_from_outside_either(shop, monkeypatch):
    """`--precision int8` decodes catalogue pictures to calibrate on before any is embedded: those
    too come only from inside the folder (every picture read is recorded; the build stops where
    the model would be quantised)."""
    from embed import build, int8, precision

    tmp_path, catalogue = shop
    read, real = [], build._read

    def recording(images_dir, item, *args):
        read.append(item.id)
        return real(images_dir, item, *args)

    def quantise(*args, **kw):
        raise _Stop

    monkeypatch.setattr(build, "_read", recording)
    monkeypatch.setattr(precision, "_cached_int8", lambda *a: None)  # calibrate here, whatever is cached
    monkeypatch.setattr(int8, "build", quantise)
    with pytest.raises(_Stop):
        build.build_index(None, tmp_path / "index", catalogue=catalogue, weights="none", precision="int8",
                          progress=False, workers=1)
    assert read == ["1"]
