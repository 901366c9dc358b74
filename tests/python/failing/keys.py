def insert_twice(db, email):
    p = db.placeholder
    db.execute(f"INSERT INTO py_keys (id, email) VALUES ({p(1)}, {p(2)})", [1, email])
    db.execute(f"INSERT INTO py_keys (id, email) VALUES ({p(1)}, {p(2)})", [2, email])
