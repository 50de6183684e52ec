from ui import basket_rules

basket_rules.render()
