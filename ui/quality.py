"""The "How good is this?" section of the Similar products, Similar customers and Similar movies
pages: the chosen data set's evaluation artifact (recommend/quality, also written by `python -m
recommend evaluate`) as a table and a bar chart, the split in one sentence, and a button that
runs the evaluation with progress."""
from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from common.artifacts import stamp
from common.errors import USER_ERRORS, ArtifactError
from recommend.quality import evaluation
from shop import evaluation as dataset_evaluation
from shop.registry import DataSet

WHAT = {
    "similar_products": "Each model is trained on the earlier orders and must find, in later orders, the product "
                        "that was hidden from the rest of the order.",
    "similar_customers": "Each model is trained on the earlier purchases and must recommend the products customers "
                         "went on to buy for the first time.",
    "similar_movies": "Each model is trained on the earlier ratings and must recommend the items each user went on "
                      "to rate highly.",
}
SHOWN = ["HitRate@10", "NDCG@10"]  # charted; the table has every metric
ROLE_NAMES = {"default": "used here", "earlier default": "earlier default", "baseline": "baseline", "other": ""}


@st.cache_data(show_spinner=False, max_entries=32)
def _load(folder: str, stamp: float) -> evaluation.Evaluation | None:
    try:
        return evaluation.load(Path(folder))
    except ArtifactError:
        return None


def section(part: str, chosen: DataSet) -> None:
    """The section for `part` on the chosen data set (a demo set or a workspace)."""
    ws = chosen.workspace
    name, root, inside = (chosen.name, chosen.artifacts, ws.folder if ws is not None else None)
    folder = evaluation.folder_for(part, name, inside)
    with st.expander("How good is this?"):
        st.caption(WHAT[part] + " Scored on the top 10 of each list (hit rate, precision, recall, NDCG, MAP, "
                                "coverage), against popularity and the earlier default.")
        result = st.session_state.get(f"quality_{part}_{name}") or _load(str(folder), stamp(folder))
        if st.button("Run the evaluation again" if result else "Run the evaluation", key=f"quality_run_{part}",
                     help="Splits this data set by time, trains every model on the earlier part and scores it "
                          "on the later part; a few seconds on the demo data, minutes on a large shop."):
            result = _run(part, name, root, folder)
        if result is None:
            st.info("This data set has not been evaluated yet: run the evaluation to see how each model does "
                    "on held-out data (or `python -m recommend evaluate --dataset "
                    f"{name}`).")
            return
        show(result)


def _run(part: str, name: str, root: Path | None, folder: Path) -> evaluation.Evaluation | None:
    bar = st.progress(0.0, text="Reading the data...")

    def step(what: str, share: float) -> None:
        bar.progress(min(max(share, 0.0), 1.0), text=f"Evaluating: {what}...")

    try:
        data, columns, folder, about = dataset_evaluation.data_for(part, name, root)
        result = evaluation.run(part, data, columns=columns, step=step, about=about)
    except USER_ERRORS as exc:
        bar.empty()
        st.error(f"Could not evaluate this data set: {exc}".splitlines()[0])
        return None
    bar.empty()
    try:
        evaluation.write(result, folder)
    except OSError as exc:  # a read-only checkout: show it, keep it for this visit
        st.session_state[f"quality_{part}_{name}"] = result
        st.warning(f"The evaluation could not be saved ({exc.strerror or exc}); it is shown for this visit only.")
    _load.clear()
    return result


def show(result: evaluation.Evaluation) -> None:
    """The sentence, the headline ratio, the chart and the table of one evaluation."""
    table = result.table
    st.markdown(result.split)
    default = table[table["role"] == "default"]
    earlier = table[table["role"] == "earlier default"]
    if len(default) and len(earlier):
        d, e = default.iloc[0], earlier.iloc[0]
        ratio = d["NDCG@10"] / e["NDCG@10"] if e["NDCG@10"] else float("nan")
        st.markdown(f"**{d['model']}**, used on this page, scores NDCG@10 {d['NDCG@10']:.3f} against "
                    f"{e['NDCG@10']:.3f} for the earlier default ({e['model']}): **{ratio:.2f}x**; hit rate "
                    f"{d['HitRate@10']:.1%} against {e['HitRate@10']:.1%}.")
    order = table["model"].tolist()
    roles = table.assign(role=table["role"].map(lambda r: ROLE_NAMES[r] or "other model"))
    colours = alt.Scale(domain=["used here", "earlier default", "other model", "baseline"],
                        range=["#1f6feb", "#8ab4f8", "#c3c9d2", "#e2c08d"])
    for column, metric in zip(st.columns(len(SHOWN)), SHOWN):  # one bar chart per metric, side by side
        chart = alt.Chart(roles, title=metric).mark_bar().encode(
            y=alt.Y("model:N", sort=order, title=None, axis=alt.Axis(labelLimit=220)),
            x=alt.X(f"{metric}:Q", title=None, axis=alt.Axis(format="%")),
            color=alt.Color("role:N", scale=colours, title=None, legend=alt.Legend(orient="bottom")),
            tooltip=["model", "role", alt.Tooltip(f"{metric}:Q", format=".1%")],
        ).properties(height=alt.Step(26))  # a fixed step: the height does not depend on a measured container
        column.altair_chart(chart, width="stretch")
    fits = table["fit_s"].map(lambda v: "–" if pd.isna(v) else f"{v:.2f}")  # no fit to time for the baselines
    shown = table.assign(role=table["role"].map(ROLE_NAMES), fit_s=fits)
    percent = {m: st.column_config.NumberColumn(m, format="percent") for m in evaluation.METRICS}
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "model": st.column_config.TextColumn("Model", width="medium"), "role": st.column_config.TextColumn("Role"),
        "users": st.column_config.NumberColumn("Scored", help="held-out orders, customers or users scored"),
        "fit_s": st.column_config.TextColumn("Fit (s)", help="seconds to fit the model on the training part"),
        **percent})
    created = str(result.manifest.get("created", ""))[:16].replace("T", " ")
    st.caption(f"Evaluated {created} UTC. The same table: `python -m recommend evaluate --dataset "
               f"{result.manifest.get('data', {}).get('dataset', '...')}`.")
