from ui import similar_products

similar_products.render()
