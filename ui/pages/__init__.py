"""The app's pages, in menu order: each is a two-line script that calls its module's render()
(file pages, so a test can open one with AppTest.switch_page and a link with its URL path)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


@dataclass(frozen=True)
class PageSpec:
    title: str
    icon: str
    name: str  # ui/<name>.py renders it; ui/pages/<name>.py runs it

    @property
    def script(self) -> str:
        return str(HERE / f"{self.name}.py")

    @property
    def slug(self) -> str:
        """The page's URL path (`visual-search`), also its name in `[vitrine.access] public_pages`."""
        return self.name.replace("_", "-")

    @property
    def url_path(self) -> str | None:
        return None if self.default else self.slug

    @property
    def default(self) -> bool:
        return self is PAGES[0]


PAGES = (
    PageSpec("Visual search", ":material/image_search:", "visual_search"),
    PageSpec("Basket rules", ":material/shopping_basket:", "basket_rules"),
    PageSpec("Similar products", ":material/category:", "similar_products"),
    PageSpec("Similar customers", ":material/groups:", "similar_customers"),
    PageSpec("Similar movies", ":material/movie:", "similar_movies"),
    PageSpec("Your data", ":material/upload_file:", "your_data"),
)

# Pages only admins open (ui/access.py): Your data reads databases and builds workspaces.
ADMIN_PAGES = frozenset({"your-data"})
