// Points Swagger UI at the generated document; kept out of the HTML so the CSP needs no inline script.
window.ui = SwaggerUIBundle({ url: "/api/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
