from ui import visual_search

visual_search.render()
