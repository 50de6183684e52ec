from ui import similar_customers

similar_customers.render()
