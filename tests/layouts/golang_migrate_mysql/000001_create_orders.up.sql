CREATE TABLE customers (
    id   BIGINT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(200) NOT NULL
);
CREATE TABLE orders (
    id          BIGINT AUTO_INCREMENT PRIMARY KEY,
    customer_id BIGINT NOT NULL,
    total       DECIMAL(12,2) NOT NULL DEFAULT 0,
    CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
);
