from ui import your_data

your_data.render()
