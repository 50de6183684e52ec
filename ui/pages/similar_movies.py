from ui import similar_movies

similar_movies.render()
